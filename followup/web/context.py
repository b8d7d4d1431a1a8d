"""What every handler shares: settings, database, clock, key, templates, archive and rate limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import jinja2
from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import HTMLResponse

from followup.clock import Clock, local_date
from followup.inbound.archive import Archive, archive_for
from followup.paths import templates_dir
from followup.settings import Settings
from followup.web.rate_limits import SharedRateLimit
from followup.web.security import client_address, is_https

WEB_TEMPLATES = templates_dir() / "web"
#: Headers on every response: nothing framed, nothing sniffed, no scripts, no referrer leaking a link's token.
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
}


@dataclass
class WebState:
    settings: Settings
    engine: Engine
    clock: Clock
    secret: bytes
    archive: Archive
    templates: jinja2.Environment
    #: Requests to item links, per client address and per token (shared by every web process).
    link_limiter: SharedRateLimit
    #: Failed logins, per client address and per account (shared by every web process).
    login_limiter: SharedRateLimit
    brand: str = "followup"

    @classmethod
    def create(cls, settings: Settings, engine: Engine, clock: Clock, secret: bytes) -> WebState:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(WEB_TEMPLATES)),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        web = settings.web
        return cls(
            settings=settings,
            engine=engine,
            clock=clock,
            secret=secret,
            archive=archive_for(settings),
            templates=env,
            link_limiter=SharedRateLimit(engine, "link", web.requests_per_minute, timedelta(minutes=1)),
            login_limiter=SharedRateLimit(engine, "login", web.login_attempts, timedelta(minutes=15)),
            brand=f"{settings.secretariat.tag} followup",
        )

    def now(self) -> datetime:
        return self.clock.now()

    def today(self) -> date:
        return local_date(self.clock.now(), self.settings.secretariat.timezone)

    def page(self, name: str, values: Mapping[str, Any], status: int = 200) -> HTMLResponse:
        html = self.templates.get_template(name).render(root="", brand=self.brand, status=status, **values)
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})

    def address(self, request: Request) -> str:
        peer = request.client.host if request.client else ""
        return client_address(peer, request.headers, self.settings.web.trusted_proxies)

    def https(self, request: Request) -> bool:
        peer = request.client.host if request.client else ""
        return is_https(request.url.scheme, peer, request.headers, self.settings.web.trusted_proxies)


def state_of(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state
