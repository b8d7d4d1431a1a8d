"""Who is asking: the session cookie (or a trusted proxy's user header), CSRF, login and logout.

Every POST of a signed-in page carries a CSRF token derived from the
session; the login form carries one derived from a pre-login cookie. Failed
logins are counted per client address and per account: past
``web.login_attempts`` in 15 minutes the login refuses to even check the
password. Logins, failures and logouts are audit events.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import quote

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from followup.store.events import record_event
from followup.store.models import WebUser
from followup.web.context import WebState, state_of
from followup.web.forms import FormRefused, read_small_form
from followup.web.security import check, in_networks, sign
from followup.web.sessions import COOKIE, make_session, read_session
from followup.web.users import authenticate, find_user

PRELOGIN_COOKIE = "followup_prelogin"


@dataclass(frozen=True)
class CurrentUser:
    id: int
    email: str
    role: str
    #: Per-session value the CSRF token of every form is derived from.
    session_key: str

    @property
    def can_act(self) -> bool:
        return self.role == "secretariat"


def proxy_email(web: WebState, request: Request) -> str:
    """The user a trusted reverse proxy says it signed in ("" when none did, or the sender is no such proxy)."""
    header = web.settings.web.proxy_user_header
    trusted = web.settings.web.trusted_proxies
    if not header or not trusted:
        return ""
    peer = request.client.host if request.client else ""
    if not in_networks(peer, trusted):
        return ""
    return request.headers.get(header, "").strip().lower()[:320]


def current_user(web: WebState, request: Request) -> CurrentUser | None:
    """The signed-in user: the one a trusted proxy names, else the session cookie's.

    A name from the proxy that is no active account is refused, never
    replaced by the cookie. Without the header (a path the proxy does not
    guard) the session cookie still counts.
    """
    email = proxy_email(web, request)
    if email:
        with Session(web.engine) as session:
            user = find_user(session, email)
        if user is not None and user.active and user.id is not None:
            return CurrentUser(user.id, user.email, user.role, f"proxy:{user.email}")
        return None
    cookie = request.cookies.get(COOKIE, "")
    info = read_session(web.secret, cookie, web.now(), web.settings.web.session_hours) if cookie else None
    if info is None:
        return None
    with Session(web.engine) as session:
        user = session.get(WebUser, info.user_id)
    if user is None or not user.active or user.id is None:
        return None
    if user.sessions_valid_after is not None and info.issued.timestamp() < int(user.sessions_valid_after.timestamp()):
        return None
    return CurrentUser(user.id, user.email, user.role, info.nonce)


def csrf_for(web: WebState, user: CurrentUser) -> str:
    return sign(web.secret, "session-csrf", user.session_key)


def csrf_ok(web: WebState, user: CurrentUser, value: str) -> bool:
    return check(web.secret, "session-csrf", user.session_key, value)


def login_redirect(request: Request) -> Response:
    """Where someone not signed in goes: the login page, or a refusal when the proxy named an unknown user."""
    web = state_of(request)
    email = proxy_email(web, request)
    if email:
        return PlainTextResponse(f"No account for {email} here: ask the secretariat to add you.", status_code=403)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def _safe_next(value: str) -> str:
    """Only a path of this site: never ``//other.example`` or ``https://...``."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/matrix"


def _login_page(web: WebState, request: Request, *, error: str = "", email: str = "", status: int = 200) -> Response:
    prelogin = request.cookies.get(PRELOGIN_COOKIE) or secrets.token_urlsafe(16)
    values = {
        "csrf": sign(web.secret, "login-csrf", prelogin),
        "next": _safe_next(request.query_params.get("next", "/matrix")),
        "error": error,
        "email": email,
    }
    response = web.page("login.html", values, status)
    response.set_cookie(PRELOGIN_COOKIE, prelogin, httponly=True, samesite="lax", secure=web.https(request), path="/")
    return response


async def login_page(request: Request) -> Response:
    return _login_page(state_of(request), request)


async def login_post(request: Request) -> Response:
    web = state_of(request)
    prelogin = request.cookies.get(PRELOGIN_COOKIE, "")
    try:
        form = await read_small_form(
            request, web, csrf=lambda value: bool(prelogin) and check(web.secret, "login-csrf", prelogin, value)
        )
    except FormRefused as refused:
        if refused.status == 403:
            return _login_page(web, request, error="The form expired; please try again.", status=403)
        return _login_page(web, request, error="The form could not be read.", status=400)
    email, password = form.get("email").strip().lower()[:320], form.get("password")
    address = web.address(request)
    now = web.now()
    keys = (f"addr:{address}", f"acct:{email}")
    if any(web.login_limiter.blocked(key, now) for key in keys):
        _audit(web, email, "login-refused", address=address, reason="too many failed attempts")
        response = _login_page(
            web, request, error="Too many failed attempts. Wait 15 minutes.", email=email, status=429
        )
        response.headers["retry-after"] = "900"
        return response
    user = authenticate(web.engine, email, password)
    if user is None or user.id is None:
        for key in keys:
            web.login_limiter.hit(key, now)
        _audit(web, email, "login-failed", address=address)
        return _login_page(web, request, error="Wrong email or password.", email=email, status=401)
    web.login_limiter.reset(f"acct:{email}")
    _audit(web, user.email, "login", address=address)
    response = RedirectResponse(_safe_next(form.get("next", "/matrix")), status_code=303)
    response.set_cookie(
        COOKIE,
        make_session(web.secret, user.id, now),
        max_age=web.settings.web.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=web.https(request),
        path="/",
    )
    response.delete_cookie(PRELOGIN_COOKIE, path="/")
    return response


async def logout_post(request: Request) -> Response:
    web = state_of(request)
    user = current_user(web, request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    try:
        await read_small_form(request, web, csrf=lambda value: csrf_ok(web, user, value))
    except FormRefused as refused:
        return Response(str(refused), status_code=refused.status)
    _audit(web, user.email, "logout", address=web.address(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _audit(web: WebState, actor: str, action: str, *, address: str, reason: str = "") -> None:
    with Session(web.engine) as session:
        record_event(
            session,
            web.now(),
            actor or "unknown",
            action,
            entity="web_user",
            entity_id=actor[:128],
            channel="web",
            address=address,
            reason=reason,
        )
        session.commit()
