"""A focal point's page for one item: ``/s/<token>``, no login.

GET shows the item and never changes anything (mail scanners follow links).
POST, with the page's CSRF token, does one of "I have sent it" (note and
files), "I need more time until DATE" or "I have a question", through
:mod:`followup.daemon.submissions`, then redirects back (POST-redirect-GET).
"""

from __future__ import annotations

from datetime import date, timedelta

from babel.dates import format_date
from sqlmodel import Session, col, select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from followup.daemon.submissions import LinkCheck, LinkedItem, ask_question, check_link, request_more_time, submit
from followup.outbound.views import item_view, secretariat_view
from followup.store.models import ArchiveFile
from followup.web.context import WebState, state_of
from followup.web.forms import FormRefused, read_posted_form
from followup.web.security import check, sign
from followup.web.strings import human_size, language_from_header, strings

_LOCALES = {"en": "en_GB", "es": "es"}
_ERRORS = {"tampered": 400, "expired": 410, "revoked": 410}


def _language(request: Request, result: LinkCheck) -> str:
    return (
        result.language
        if result.language in _LOCALES
        else language_from_header(request.headers.get("accept-language", ""))
    )


def _message(web: WebState, language: str, key: str, status: int, back: str = "", **fmt: str) -> Response:
    t = strings(language)
    return web.page(
        "message.html",
        {
            "lang": language,
            "heading": t[f"{key}_title"],
            "text": t[f"{key}_text"].format(**fmt),
            "back": back,
            "back_label": t["back"],
        },
        status,
    )


def _limited(web: WebState, request: Request, token: str) -> bool:
    now = web.now()
    by_address = web.link_limiter.hit(f"addr:{web.address(request)}", now)
    by_token = web.link_limiter.hit(f"token:{token[:64]}", now)
    return not (by_address and by_token)


def _check(web: WebState, request: Request, token: str) -> tuple[LinkCheck, Response | None]:
    if _limited(web, request, token):
        language = language_from_header(request.headers.get("accept-language", ""))
        response = _message(web, language, "slow_down", 429)
        response.headers["retry-after"] = "60"
        return LinkCheck("limited"), response
    result = check_link(web.engine, token, web.secret, web.today())
    if result.status != "ok":
        return result, _message(web, _language(request, result), result.status, _ERRORS[result.status])
    return result, None


def _render(
    web: WebState, token: str, item: LinkedItem, *, done: str = "", error: str = "", status: int = 200
) -> Response:
    language = item.language if item.language in _LOCALES else "en"
    t = strings(language)
    today = web.today()
    view = item_view(
        item.assignment, item.commitment, item.party, language=language, today=today, tag=web.settings.secretariat.tag
    )
    with Session(web.engine) as session:
        files = session.exec(
            select(ArchiveFile)
            .where(ArchiveFile.assignment_id == item.claim.assignment_id)
            .order_by(col(ArchiveFile.received_at))
        ).all()
    shown = [
        {
            "original_name": f.original_name,
            "size_text": human_size(f.size),
            "received": format_date(f.received_at.date(), "medium", locale=_LOCALES[language]),
        }
        for f in files
    ]
    notice = ""
    if done == "sent":
        notice = t["thanks_sent"]
    elif done == "question":
        notice = t["thanks_question"]
    elif done.startswith("time:"):
        try:
            notice = t["thanks_time"].format(
                date=format_date(date.fromisoformat(done[5:]), "long", locale=_LOCALES[language])
            )
        except ValueError:
            notice = ""
    values = {
        "lang": language,
        "t": t,
        "item": view,
        "due_text": format_date(view.due_date, "full", locale=_LOCALES[language]),
        "state_text": t.get(f"state_{view.state}", view.state),
        "files": shown,
        "files_label": t["files"].format(size=human_size(web.settings.web.upload_max_bytes)),
        "csrf": sign(web.secret, "link-csrf", token),
        "tomorrow": (today + timedelta(days=1)).isoformat(),
        "error": error,
        "notice": notice,
        "secretariat": secretariat_view(web.settings, language).name,
    }
    return web.page("item.html", values, status)


async def item_page(request: Request) -> Response:
    web = state_of(request)
    token = str(request.path_params["token"])
    result, refused = _check(web, request, token)
    if refused is not None:
        return refused
    assert result.item is not None
    done = request.query_params.get("done", "")[:20]
    return _render(web, token, result.item, done=done)


async def item_post(request: Request) -> Response:
    web = state_of(request)
    token = str(request.path_params["token"])
    result, refused = _check(web, request, token)
    if refused is not None:
        return refused
    item = result.item
    assert item is not None
    language = item.language if item.language in _LOCALES else "en"
    limit = web.settings.web.upload_max_bytes
    try:
        form = await read_posted_form(
            request, web, csrf=lambda value: check(web.secret, "link-csrf", token, value), file_limit=limit
        )
    except FormRefused as exc:
        if exc.status == 413:
            return _message(web, language, "too_large", 413, size=human_size(limit))
        return _message(web, language, "bad_form", exc.status)
    action, note = form.get("action"), form.get("note").strip()
    now = web.now()
    if action == "sent":
        allowed = set(web.settings.web.allowed_kinds)
        refused_files = [u for u in form.uploads if u.sniffed is None or u.sniffed.kind not in allowed]
        if refused_files:
            form.abort()
            t = strings(language)
            return web.page(
                "message.html",
                {
                    "lang": language,
                    "heading": t["bad_kind_title"],
                    "text": t["bad_kind_text"].format(name=refused_files[0].original_name),
                    "back": f"/s/{token}",
                    "back_label": t["back"],
                },
                415,
            )
        files = form.finish()
        submit(web.engine, web.settings, item, note=note, files=files, now=now)
        return RedirectResponse(f"/s/{token}?done=sent", status_code=303)
    form.abort()
    if action == "more_time":
        try:
            until = date.fromisoformat(form.get("until").strip())
        except ValueError:
            until = None
        if until is None or until <= web.today():
            return _render(web, token, item, error=strings(language)["bad_date"], status=400)
        request_more_time(web.engine, item, until=until, note=note, now=now)
        return RedirectResponse(f"/s/{token}?done=time:{until.isoformat()}", status_code=303)
    if action == "question":
        if not note:
            return _render(web, token, item, error=strings(language)["empty_question"], status=400)
        ask_question(web.engine, item, text=note, now=now)
        return RedirectResponse(f"/s/{token}?done=question", status_code=303)
    return _message(web, language, "bad_form", 400)
