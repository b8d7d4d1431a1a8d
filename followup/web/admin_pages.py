"""The secretariat's pages: status matrix, one assignment, triage, outbox, archive, calendar feeds.

Every page needs a signed-in user; every action needs the ``secretariat``
role and the session's CSRF token, and calls the same service as the CLI
(:mod:`followup.daemon.actions`, :mod:`followup.daemon.triage`).
"""

from __future__ import annotations

import csv
import hmac
import io
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlencode

from sqlmodel import Session, col, select
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from followup.daemon.actions import extend, reopen, set_state
from followup.daemon.triage import assign_message, dismiss_message, grant_extension, refuse_extension
from followup.errors import FollowupError
from followup.inbound.archive import export_zip, list_files
from followup.outbound.owner_calendar import deadlines_feed
from followup.store.matrix import open_matrix
from followup.store.models import (
    ArchiveFile,
    Assignment,
    Commitment,
    Event,
    InboundMatch,
    InboundMessage,
    Notification,
    Party,
)
from followup.store.queries import matrix_page as load_matrix_page
from followup.store.status import AssignmentView, Matrix, Row, cell_for
from followup.web.auth import CurrentUser, csrf_for, csrf_ok, current_user, login_redirect
from followup.web.context import WebState, state_of
from followup.web.forms import FormRefused, ReceivedForm, read_small_form
from followup.web.outbox_preview import preview_text
from followup.web.security import sign

CELL_CODES = ("overdue", "due_today", "due_soon", "pending", "extended", "submitted", "confirmed", "waived")
OUTBOX_DAYS = 7
#: Commitments (rows) and owners (columns) per page of the matrix.
PAGE_ROWS = 25
PAGE_COLUMNS = 20
#: Commitments per query of the CSV download (every owner's cell of each).
#: Longer filter lists become text fields.
MAX_CHOICES = 100
Handler = Callable[[Request, WebState, CurrentUser], Coroutine[Any, Any, Response]]


def signed_in(handler: Handler) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    """Run ``handler`` for a signed-in user; send anyone else to the login page."""

    async def endpoint(request: Request) -> Response:
        web = state_of(request)
        user = current_user(web, request)
        if user is None:
            return login_redirect(request)
        return await handler(request, web, user)

    endpoint.__name__ = handler.__name__
    return endpoint


def _base(web: WebState, user: CurrentUser, section: str) -> dict[str, Any]:
    return {"user": user, "csrf": csrf_for(web, user), "section": section, "can_act": user.can_act}


async def _action_form(request: Request, web: WebState, user: CurrentUser) -> ReceivedForm | Response:
    """The POSTed form of a secretariat action, or the refusal (viewer, bad CSRF, bad body)."""
    if not user.can_act:
        return Response("Your role may only look, not act.", status_code=403)
    try:
        return await read_small_form(request, web, csrf=lambda value: csrf_ok(web, user, value))
    except FormRefused as refused:
        message = "CSRF token missing or wrong." if refused.status == 403 else "The form could not be read."
        return Response(message, status_code=refused.status)


# --------------------------------------------------------------------------- matrix


def filtered_rows(matrix: Matrix, *, commitment: str, state: str, overdue: bool) -> list[Row]:
    """Rows (and cells) that pass the filters, sorted by their earliest due date."""
    rows = [
        kept
        for row in matrix.rows
        if (kept := filtered_row(row, commitment=commitment, state=state, overdue=overdue)) is not None
    ]
    return sorted(rows, key=earliest_due)


def filtered_row(row: Row, *, commitment: str, state: str, overdue: bool) -> Row | None:
    """The row with only the cells that pass the filters; None when it does not pass."""
    if commitment and row.commitment_id != commitment:
        return None
    if not (state or overdue):
        return row
    cells = {
        code: cell
        for code, cell in row.cells.items()
        if (not state or cell.code == state) and (not overdue or cell.code == "overdue")
    }
    return Row(row.commitment_id, row.title, row.due_rule, cells) if cells else None


def earliest_due(row: Row) -> tuple[date, str]:
    """The page's row order: the earliest due date among its cells, then the commitment."""
    dues = [c.due_date for c in row.cells.values() if c.due_date is not None]
    return (min(dues) if dues else date.max, row.commitment_id)


def matrix_csv(web: WebState, today: date, *, owner: str, commitment: str, state: str, overdue: bool) -> Response:
    """The filtered matrix as CSV, rows in the page's order, without holding the matrix in memory.

    Rows stream from :func:`followup.store.matrix.open_matrix` into a
    temporary file, remembering each one's sort key and place; the
    response then reads them back in order. Memory holds one key per
    commitment, not a cell per assignment.
    """
    # Closed by the response body once sent (or on an error below): it outlives this function.
    spool = tempfile.TemporaryFile()  # noqa: SIM115
    try:
        header, places = _spool_matrix_csv(
            spool, web, today, owner, commitment=commitment, state=state, overdue=overdue
        )
    except BaseException:
        spool.close()
        raise

    def body() -> Iterator[bytes]:
        try:
            yield header
            for _key, offset, size in places:
                spool.seek(offset)
                yield spool.read(size)
        finally:
            spool.close()

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="status-{today.isoformat()}.csv"'},
    )


def _spool_matrix_csv(
    spool: IO[bytes], web: WebState, today: date, owner: str, *, commitment: str, state: str, overdue: bool
) -> tuple[bytes, list[tuple[tuple[date, str], int, int]]]:
    """Write the filtered rows' CSV lines to ``spool``; the header, and each line's sort key, offset and size."""
    places: list[tuple[tuple[date, str], int, int]] = []
    text = io.StringIO()
    writer = csv.writer(text)
    with open_matrix(web.engine, today, country=owner or None) as stream:
        codes = [c for c, _ in stream.owners]
        writer.writerow(["commitment_id", "title", "due_rule", *codes])
        header = text.getvalue().encode("utf-8")
        for row in stream.rows:
            kept = filtered_row(row, commitment=commitment, state=state, overdue=overdue)
            if kept is None:
                continue
            text.seek(0)
            text.truncate()
            cells = kept.cells
            writer.writerow([kept.commitment_id, kept.title, kept.due_rule,
                             *[cells[c].label if c in cells else "" for c in codes]])  # fmt: skip
            line = text.getvalue().encode("utf-8")
            places.append((earliest_due(kept), spool.tell(), len(line)))
            spool.write(line)
    places.sort()
    return header, places


async def _matrix(request: Request, web: WebState, user: CurrentUser) -> Response:
    q = request.query_params
    owner = q.get("owner", "").strip().upper()[:16]
    commitment = q.get("commitment", "").strip()[:128]
    state = q.get("state", "") if q.get("state", "") in CELL_CODES else ""
    overdue = q.get("overdue", "") == "1"
    code = "overdue" if overdue else state
    filters = {"owner": owner, "commitment": commitment, "state": state, "overdue": overdue}
    today = web.today()
    if q.get("format") == "csv":
        return matrix_csv(web, today, owner=owner, commitment=commitment, state=state, overdue=overdue)
    page_number = int(q["page"]) if q.get("page", "").isdigit() and int(q["page"]) > 0 else 1
    column_page = int(q["cols"]) if q.get("cols", "").isdigit() and int(q["cols"]) > 0 else 1
    page = await run_in_threadpool(
        load_matrix_page,
        web.engine,
        today,
        owner=owner or None,
        commitment=commitment or None,
        code=code or None,
        offset=(page_number - 1) * PAGE_ROWS,
        limit=PAGE_ROWS,
        owner_offset=(column_page - 1) * PAGE_COLUMNS,
        owner_limit=PAGE_COLUMNS,
    )
    matrix = page.matrix
    rows = filtered_rows(matrix, commitment=commitment, state=state, overdue=overdue)
    owners, commitments = await run_in_threadpool(_choices, web)
    summary = []
    for party, name in matrix.owners:
        counts: dict[str, int] = {}
        for row in rows:
            if party in row.cells:
                counts[row.cells[party].code] = counts.get(row.cells[party].code, 0) + 1
        if counts:
            summary.append((party, name, [(k, counts[k]) for k in CELL_CODES if k in counts]))
    totals: dict[str, int] = {}
    for row in rows:
        for cell in row.cells.values():
            totals[cell.code] = totals.get(cell.code, 0) + 1
    query: dict[str, str | int] = {k: ("1" if v is True else str(v)) for k, v in filters.items() if v}
    pages = max(1, -(-page.total // PAGE_ROWS))
    column_pages = max(1, -(-page.total_owners // PAGE_COLUMNS))
    at = {**query, "page": page_number, "cols": column_page}
    values = {
        **_base(web, user, "matrix"),
        "matrix": matrix,
        "rows": rows,
        "filters": filters,
        "owners": owners,
        "commitments": commitments,
        "cell_codes": CELL_CODES,
        "summary": summary,
        "counts": [(k, totals[k]) for k in CELL_CODES if k in totals],
        "calendars": calendar_urls(web, [party for party, _name in matrix.owners]),
        "csv_url": "/matrix?" + urlencode({**query, "format": "csv"}),
        "page": page_number,
        "pages": pages,
        "total": page.total,
        "prev_url": "/matrix?" + urlencode({**at, "page": page_number - 1}) if page_number > 1 else "",
        "next_url": "/matrix?" + urlencode({**at, "page": page_number + 1}) if page_number < pages else "",
        "column_page": column_page,
        "column_pages": column_pages,
        "left_url": "/matrix?" + urlencode({**at, "cols": column_page - 1}) if column_page > 1 else "",
        "right_url": "/matrix?" + urlencode({**at, "cols": column_page + 1}) if column_page < column_pages else "",
    }
    return web.page("matrix.html", values)


matrix_page = signed_in(_matrix)


def _labels(row: Row, codes: list[str]) -> list[str]:
    return [row.cells[c].label if c in row.cells else "" for c in codes]


def _choices(web: WebState) -> tuple[list[tuple[str, str]] | None, list[tuple[str, str]] | None]:
    """(code, name) of every owner and (id, title) of every commitment for the filter lists.

    None for a list longer than :data:`MAX_CHOICES`: the page then offers a
    text field, which serves a reader better than a list of a thousand.
    """
    with Session(web.engine) as session:
        owners = list(session.exec(select(Party.code, Party.name_en).order_by(Party.code).limit(MAX_CHOICES + 1)))
        commitments = list(
            session.exec(select(Commitment.id, Commitment.title_en).order_by(Commitment.id).limit(MAX_CHOICES + 1))
        )
    return (owners if len(owners) <= MAX_CHOICES else None), (commitments if len(commitments) <= MAX_CHOICES else None)


async def _home(request: Request, web: WebState, user: CurrentUser) -> Response:
    return RedirectResponse("/matrix", status_code=303)


home_page = signed_in(_home)


# --------------------------------------------------------------------------- one assignment


def _assignment_values(web: WebState, assignment_id: int) -> dict[str, Any] | None:
    with Session(web.engine) as session:
        a = session.get(Assignment, assignment_id)
        if a is None:
            return None
        view = AssignmentView(a.id or 0, a.commitment_id, a.party_code, a.occurrence, a.state, a.due_date)
        return {
            "a": a,
            "cell": cell_for(view, web.today()),
            "commitment": session.get(Commitment, a.commitment_id),
            "party": session.get(Party, a.party_code),
            "files": list_files(session, assignment=assignment_id),
            "emails": session.exec(
                select(Notification)
                .where(Notification.assignment_id == assignment_id)
                .order_by(col(Notification.scheduled_at))
            ).all(),
            "replies": session.exec(
                select(InboundMessage)
                .join(InboundMatch, col(InboundMatch.inbound_id) == col(InboundMessage.id))
                .where(InboundMatch.assignment_id == assignment_id)
                .order_by(col(InboundMessage.id))
            ).all(),
            "events": session.exec(
                select(Event).where(Event.assignment_id == assignment_id).order_by(col(Event.at), col(Event.id))
            ).all(),
        }


async def _assignment(request: Request, web: WebState, user: CurrentUser) -> Response:
    assignment_id = int(request.path_params["assignment_id"])
    values = _assignment_values(web, assignment_id)
    if values is None:
        return Response(f"No assignment {assignment_id}.", status_code=404)
    done = request.query_params.get("done", "")
    message = {"confirm": "Confirmed.", "waive": "Waived.", "extend": "Extended.", "reopen": "Reopened."}.get(done, "")
    return web.page("assignment.html", {**_base(web, user, "matrix"), **values, "message": message, "error": ""})


async def _assignment_post(request: Request, web: WebState, user: CurrentUser) -> Response:
    assignment_id = int(request.path_params["assignment_id"])
    form = await _action_form(request, web, user)
    if isinstance(form, Response):
        return form
    action, note = form.get("action"), form.get("note").strip()[:500]
    now = web.now()
    try:
        if action in ("confirm", "waive"):
            target = "confirmed" if action == "confirm" else "waived"
            set_state(web.engine, assignment_id, target, now=now, actor=user.email, note=note, channel="web")
        elif action == "extend":
            try:
                new_due = date.fromisoformat(form.get("to").strip())
            except ValueError:
                raise FollowupError("give the new due date (YYYY-MM-DD) to extend") from None
            extend(web.engine, assignment_id, new_due, now=now, actor=user.email, note=note, channel="web")
        elif action == "reopen":
            reopen(web.engine, assignment_id, now=now, actor=user.email, note=note, channel="web")
        else:
            return Response("Unknown action.", status_code=400)
    except FollowupError as exc:
        values = _assignment_values(web, assignment_id)
        if values is None:
            return Response(f"No assignment {assignment_id}.", status_code=404)
        return web.page(
            "assignment.html", {**_base(web, user, "matrix"), **values, "message": "", "error": str(exc)}, 409
        )
    return RedirectResponse(f"/assignments/{assignment_id}?done={action}", status_code=303)


assignment_page = signed_in(_assignment)
assignment_post = signed_in(_assignment_post)


# --------------------------------------------------------------------------- triage


async def _triage(request: Request, web: WebState, user: CurrentUser) -> Response:
    with Session(web.engine) as session:
        messages = session.exec(
            select(InboundMessage)
            .where(InboundMessage.triage == "open")
            .order_by(col(InboundMessage.id).desc())
            .limit(200)
        ).all()
        ids = [m.id for m in messages if m.id is not None]
        matched: dict[int, list[int]] = {}
        for inbound_id, aid in session.exec(
            select(InboundMatch.inbound_id, InboundMatch.assignment_id).where(col(InboundMatch.inbound_id).in_(ids))
        ).all():
            matched.setdefault(inbound_id, []).append(aid)
    done = request.query_params.get("done", "")
    message = {
        "assign": "Assigned.",
        "dismiss": "Dismissed.",
        "accept": "Extension granted.",
        "refuse": "Extension refused.",
    }.get(done, "")
    return web.page(
        "triage.html",
        {**_base(web, user, "triage"), "messages": messages, "matched": matched, "message": message, "error": ""},
    )


async def _triage_post(request: Request, web: WebState, user: CurrentUser) -> Response:
    message_id = int(request.path_params["message_id"])
    form = await _action_form(request, web, user)
    if isinstance(form, Response):
        return form
    action, note = form.get("action"), form.get("note").strip()[:500]
    now = web.now()
    try:
        if action == "assign":
            try:
                aid = int(form.get("assignment"))
            except ValueError:
                raise FollowupError("give the assignment number to attach the message to") from None
            assign_message(web.engine, web.settings, message_id, aid, now=now, actor=user.email, channel="web")
        elif action == "dismiss":
            dismiss_message(web.engine, message_id, now=now, actor=user.email, note=note, channel="web")
        elif action == "accept":
            grant_extension(web.engine, message_id, now=now, actor=user.email, note=note, channel="web")
        elif action == "refuse":
            refuse_extension(web.engine, message_id, now=now, actor=user.email, note=note, channel="web")
        else:
            return Response("Unknown action.", status_code=400)
    except FollowupError as exc:
        return Response(str(exc), status_code=409)
    return RedirectResponse(f"/triage?done={action}", status_code=303)


triage_page = signed_in(_triage)
triage_post = signed_in(_triage_post)


# --------------------------------------------------------------------------- outbox


async def _outbox(request: Request, web: WebState, user: CurrentUser) -> Response:
    now = web.now()
    with Session(web.engine) as session:
        upcoming = session.exec(
            select(Notification)
            .where(
                col(Notification.state).in_(("planned", "sending")),
                Notification.scheduled_at <= now + timedelta(days=OUTBOX_DAYS),
            )
            .order_by(col(Notification.scheduled_at))
            .limit(500)
        ).all()
        failed = session.exec(
            select(Notification)
            .where(col(Notification.state).in_(("failed", "bounced")))
            .order_by(col(Notification.scheduled_at).desc())
            .limit(200)
        ).all()
    return web.page(
        "outbox.html", {**_base(web, user, "outbox"), "upcoming": upcoming, "failed": failed, "days": OUTBOX_DAYS}
    )


async def _outbox_preview(request: Request, web: WebState, user: CurrentUser) -> Response:
    notification_id = int(request.path_params["notification_id"])
    with Session(web.engine) as session:
        row = session.get(Notification, notification_id)
    if row is None:
        return Response(f"No email {notification_id}.", status_code=404)
    subject, text, error = await preview_text(web.engine, web.settings, web.secret, row, web.now())
    return web.page(
        "preview.html", {**_base(web, user, "outbox"), "n": row, "subject": subject, "text": text, "error": error}
    )


outbox_page = signed_in(_outbox)
outbox_preview = signed_in(_outbox_preview)


# --------------------------------------------------------------------------- archive and files


async def _archive(request: Request, web: WebState, user: CurrentUser) -> Response:
    owners, commitments = _choices(web)
    with Session(web.engine) as session:
        files = session.exec(select(ArchiveFile).order_by(col(ArchiveFile.received_at).desc()).limit(500)).all()
    return web.page(
        "archive.html", {**_base(web, user, "archive"), "files": files, "owners": owners, "commitments": commitments}
    )


def _download_headers(name: str) -> dict[str, str]:
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in name) or "file"
    return {
        "content-disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}",
        "x-content-type-options": "nosniff",
        "cache-control": "private, no-store",
    }


async def _file(request: Request, web: WebState, user: CurrentUser) -> Response:
    file_id = int(request.path_params["file_id"])
    with Session(web.engine) as session:
        row = session.get(ArchiveFile, file_id)
    if row is None:
        return Response(f"No file {file_id}.", status_code=404)
    path = web.archive.path_of(row.sha256)
    # Always a download, never rendered: the type is fixed, not the sniffed one.
    return FileResponse(path, media_type="application/octet-stream", headers=_download_headers(row.original_name))


async def _archive_zip(request: Request, web: WebState, user: CurrentUser) -> Response:
    q = request.query_params
    assignment = q.get("assignment", "")
    with Session(web.engine) as session:
        rows = list_files(
            session,
            commitment=q.get("commitment") or None,
            party=q.get("party") or None,
            assignment=int(assignment) if assignment.isdigit() else None,
        )
    spool = tempfile.NamedTemporaryFile(prefix="followup-export-", suffix=".zip", delete=False)  # noqa: SIM115
    with spool:
        export_zip(web.archive, rows, spool)
    name = "archive-" + "-".join(p for p in (q.get("commitment", ""), q.get("party", ""), assignment) if p)
    path = Path(spool.name)
    return FileResponse(
        path,
        media_type="application/zip",
        headers=_download_headers(name.rstrip("-") + ".zip"),
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


archive_page = signed_in(_archive)
file_download = signed_in(_file)
archive_zip = signed_in(_archive_zip)


# --------------------------------------------------------------------------- calendar feeds


def calendar_key(web: WebState, party: str) -> str:
    return sign(web.secret, "calendar", party)


async def calendar_feed(request: Request) -> Response:
    """``/calendar/<owner>/<key>.ics``: an owner's deadlines, for anyone who has the secret URL."""
    web = state_of(request)
    party, key = str(request.path_params["party"]).upper(), str(request.path_params["key"])
    if not hmac.compare_digest(key.encode("utf-8", "replace"), calendar_key(web, party).encode()):
        return Response("Not found.", status_code=404)
    try:
        feed, _count = deadlines_feed(web.engine, web.settings, web.now(), country=party, language=None, days=365)
    except FollowupError:
        return Response("Not found.", status_code=404)
    return Response(feed, media_type="text/calendar; charset=utf-8", headers={"cache-control": "private, max-age=300"})


def calendar_urls(web: WebState, codes: list[str]) -> list[tuple[str, str]]:
    return [(code, f"/calendar/{code}/{calendar_key(web, code)}.ics") for code in codes]
