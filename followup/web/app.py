"""The ASGI application: routes, security headers, the stylesheet.

``create_app`` takes everything it needs (settings, engine, clock, key), so
tests build one per test and drive it with Starlette's TestClient, and
``followup run`` serves the same app beside the daemon in one event loop.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from followup.clock import Clock
from followup.settings import Settings
from followup.web.admin_pages import (
    archive_page,
    archive_zip,
    assignment_page,
    assignment_post,
    calendar_feed,
    file_download,
    home_page,
    matrix_page,
    outbox_page,
    outbox_preview,
    triage_page,
    triage_post,
)
from followup.web.auth import login_page, login_post, logout_post
from followup.web.context import SECURITY_HEADERS, WEB_TEMPLATES, WebState
from followup.web.item_pages import item_page, item_post

STYLESHEET = WEB_TEMPLATES / "static" / "style.css"


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def stylesheet(request: Request) -> Response:
    return FileResponse(STYLESHEET, media_type="text/css", headers={"cache-control": "public, max-age=3600"})


async def health(request: Request) -> Response:
    return Response("ok\n", media_type="text/plain")


def create_app(settings: Settings, engine: Engine, clock: Clock, secret: bytes) -> Starlette:
    routes = [
        Route("/", home_page),
        Route("/healthz", health),
        Route("/static/style.css", stylesheet),
        Route("/s/{token}", item_page, methods=["GET"]),
        Route("/s/{token}", item_post, methods=["POST"]),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        Route("/logout", logout_post, methods=["POST"]),
        Route("/matrix", matrix_page),
        Route("/assignments/{assignment_id:int}", assignment_page, methods=["GET"]),
        Route("/assignments/{assignment_id:int}", assignment_post, methods=["POST"]),
        Route("/triage", triage_page),
        Route("/triage/{message_id:int}", triage_post, methods=["POST"]),
        Route("/outbox", outbox_page),
        Route("/outbox/{notification_id:int}", outbox_preview),
        Route("/archive", archive_page),
        Route("/archive.zip", archive_zip),
        Route("/files/{file_id:int}", file_download),
        Route("/calendar/{party}/{key}.ics", calendar_feed),
    ]
    app = Starlette(routes=routes)
    app.state.web = WebState.create(settings, engine, clock, secret)
    app.add_middleware(SecurityHeaders)
    return app
