"""Serving the app with uvicorn: alone (``followup web``) or beside the daemon (``followup run``)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Generator

import uvicorn
from sqlalchemy.engine import Engine

from followup.clock import Clock
from followup.settings import Settings
from followup.web.app import create_app

log = logging.getLogger("followup.web")


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to its host (the daemon stops it by ``should_exit``)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def make_server(settings: Settings, engine: Engine, clock: Clock, secret: bytes, *, embedded: bool) -> uvicorn.Server:
    app = create_app(settings, engine, clock, secret)
    config = uvicorn.Config(
        app,
        host=settings.web.host,
        port=settings.web.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # forwarded headers are honoured only from web.trusted_proxies, by the app itself
        server_header=False,
        lifespan="off",
    )
    return EmbeddedServer(config) if embedded else uvicorn.Server(config)


def address(settings: Settings) -> str:
    host = settings.web.host
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{settings.web.port}/"
