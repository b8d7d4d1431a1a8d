"""The weekly digest for the secretariat: what is overdue, what is coming, what happened.

:func:`collect_digest` reads the database once per section and returns the
typed context the templates render; it never sends anything. Sending goes
through the outbox like every other email (see :mod:`followup.outbound.dispatch`), so
a digest is planned once per week whatever the number of daemons.
"""

from __future__ import annotations

import csv
import io
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Generator, Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import cast

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from followup.clock import local_date
from followup.outbound.compose import Attachment, Mailbox
from followup.outbound.emails.base import BuildContext, Draft
from followup.outbound.outbox import held_for_quota
from followup.outbound.render import (
    AwayView,
    CommitmentRow,
    DigestContext,
    FailureView,
    ItemView,
    OwnerRow,
    PartyItems,
    RelayWaitView,
    Rendered,
    Renderer,
    SubmissionView,
    UnmatchedView,
    pick,
)
from followup.outbound.tokens import reference_tag
from followup.outbound.views import item_view, party_name, secretariat_view
from followup.schedule.planner import out_of_office
from followup.schedule.reminder_rules import DeliveryGroup
from followup.settings import Settings
from followup.store.models import (
    Assignment,
    Commitment,
    Contact,
    Event,
    InboundMessage,
    Notification,
    Party,
)
from followup.store.open_items import (
    OpenItem,
    commitment_counts,
    every_item,
    oldest_per_owner,
    owner_counts,
    parties_with_open_items,
    soonest,
)

PERIOD_DAYS = 7
#: The digest email stays under this many bytes, attachment included, whatever the size of the database.
MAX_EMAIL_BYTES = 200_000
#: How many rows each list of the email shows at most; the counts and the attachment cover the rest.
OWNER_ROWS = 40
COMMITMENT_ROWS = 15
#: Owners whose oldest overdue items are listed one by one (those with the most overdue).
DETAIL_OWNERS = 10
LIST_ROWS = 20
#: Longer titles are cut in the email (the attachment has them whole).
TITLE_CHARS = 120


def collect_digest(engine: Engine, settings: Settings, now: datetime, language: str | None = None) -> DigestContext:
    """Everything the digest says; titles and names in ``language`` (default: the secretariat's).

    Counts come from ``GROUP BY`` queries and the items it lists one by
    one from bounded queries (the oldest ``digest.items_per_owner`` of the
    most overdue owners, the soonest due), so its cost and its size follow
    what it shows, not the number of assignments.
    """
    zone = settings.secretariat.timezone
    language = language or settings.secretariat.language
    tag = settings.secretariat.tag
    today = local_date(now, zone)
    since = now - timedelta(days=PERIOD_DAYS)
    horizon = today + timedelta(days=settings.digest.upcoming_days)
    per_owner = settings.digest.items_per_owner

    def view(item: OpenItem) -> ItemView:
        shown = item_view(
            item.assignment,
            item.commitment,
            item.party,
            language=language,
            today=today,
            tag=tag,
            reminders_sent=item.reminders_sent,
            last_reply_on=item.last_reply_at.date() if item.last_reply_at else None,
        )
        return _short(shown)

    with Session(engine) as session:
        conn = session.connection()
        parties = {p.code: p for p in session.exec(select(Party)).all()}
        counts = [c for c in owner_counts(conn, today, horizon) if c.code in parties]
        names = {c.code: party_name(parties[c.code], language) for c in counts}
        owners = sorted(
            (OwnerRow(names[c.code], c.overdue, c.due_soon, c.awaiting) for c in counts),
            key=lambda r: (-r.overdue, -r.due_soon, -r.awaiting, r.owner_name),
        )
        late = sorted((c for c in counts if c.overdue), key=lambda c: (-c.overdue, names[c.code]))
        detail: dict[str, list[ItemView]] = defaultdict(list)
        if per_owner:
            for item in oldest_per_owner(session, today, horizon, per_owner, [c.code for c in late[:DETAIL_OWNERS]]):
                detail[item.assignment.party_code].append(view(item))
        soon, upcoming_total = soonest(session, today, horizon, LIST_ROWS)
        by_commitment, commitments_total = commitment_counts(conn, today, horizon, COMMITMENT_ROWS)
        people = _people(session)
        submissions, submissions_total = _submissions(session, since, language, today, tag, zone, people)
        failures = _failures(session, since, zone)
        unmatched_total = session.exec(
            select(func.count()).select_from(InboundMessage).where(InboundMessage.triage == "open")
        ).one()
        unmatched = [
            UnmatchedView(
                inbound_id=m.id or 0,
                sender=m.sender,
                subject=shorten(m.subject),
                received_on=local_date(m.received_at or now, zone),
                intent=m.intent,
                sender_name=people.get(m.sender.lower(), (m.sender_name, ""))[0] or m.sender_name,
                proposed_date=m.proposed_date,
            )
            for m in session.exec(
                select(InboundMessage)
                .where(InboundMessage.triage == "open")
                .order_by(col(InboundMessage.id))
                .limit(LIST_ROWS)
            ).all()
        ]
        away, unreachable = _away_and_unreachable(session, parties_with_open_items(session, horizon), now, language)
    by_party = [
        PartyItems(party_name=names[c.code], items=tuple(detail[c.code]), total=c.overdue)
        for c in late[:DETAIL_OWNERS]
        if detail[c.code]
    ]
    return DigestContext(
        secretariat=secretariat_view(settings, language),
        period_start=local_date(since, zone),
        period_end=today,
        overdue_by_party=tuple(by_party),
        upcoming=tuple(view(item) for item in soon),
        upcoming_days=settings.digest.upcoming_days,
        submissions=tuple(submissions),
        failures=tuple(failures[:LIST_ROWS]),
        unmatched=tuple(unmatched),
        owners=tuple(owners[:OWNER_ROWS]),
        away=tuple(away[:LIST_ROWS]),
        unreachable=tuple(unreachable),
        waiting_for_relay=_waiting_for_relay(engine, zone),
        commitments=tuple(
            CommitmentRow(shorten(pick(language, c.title_en, c.title_es)), c.overdue, c.due_soon, c.owners)
            for c in by_commitment
        ),
        overdue_total=sum(c.overdue for c in counts),
        upcoming_total=upcoming_total,
        owners_total=len(owners),
        commitments_total=commitments_total,
        overdue_owners_total=len(late),
        submissions_total=submissions_total,
        failures_total=len(failures),
        unmatched_total=int(unmatched_total),
        items_per_owner=per_owner,
        items_total=sum(c.overdue + c.due_soon for c in counts),
    )


def _waiting_for_relay(engine: Engine, zone: str) -> RelayWaitView | None:
    """What waits for the relay's quota: one line in the digest, so nobody wonders where the emails went."""
    held = held_for_quota(engine)
    if not held.count or held.oldest is None:
        return None
    return RelayWaitView(held.count, local_date(held.oldest, zone))


def shorten(text: str, limit: int = TITLE_CHARS) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut[limit // 2 :] else cut).rstrip(" ,;:") + "…"


def _people(session: Session) -> dict[str, tuple[str, str]]:
    """Every contact's address -> (name, party code), so the digest names people, not addresses."""
    return {c.email.lower(): (c.name, c.party_code) for c in session.exec(select(Contact)).all()}


def _away_and_unreachable(
    session: Session, owners: list[Party], now: datetime, language: str
) -> tuple[list[AwayView], list[str]]:
    """Focal points paused by an out-of-office reply, and owners with open items and nobody to write to."""
    names = {p.code: party_name(p, language) for p in owners}
    # Every active contact (a few per owner) rather than an IN list of owner codes.
    contacts = [c for c in session.exec(select(Contact).where(col(Contact.active))).all() if c.party_code in names]
    back = out_of_office(session.connection(), contacts, now)
    by_owner: dict[str, list[Contact]] = defaultdict(list)
    for c in contacts:
        by_owner[c.party_code].append(c)
    away: list[AwayView] = []
    unreachable: list[str] = []
    for code in sorted(names):
        working = [c for c in by_owner[code] if c.address_state == "ok"]
        present = [c for c in working if c.id not in back]
        stand_in = next((c.name for c in present if c.role == "alternate"), "")
        for c in working:
            if c.id in back:
                away.append(AwayView(c.name, names[code], back[c.id], stand_in if c.role == "primary" else ""))
        if not working:
            unreachable.append(names[code])
    return away, unreachable


def _submissions(
    session: Session, since: datetime, language: str, today: date, tag: str, zone: str,
    people: dict[str, tuple[str, str]],
) -> tuple[list[SubmissionView], int]:  # fmt: skip
    """The first :data:`LIST_ROWS` submissions and confirmations of the week, and how many there were."""
    this_week = (col(Event.action).in_(("submitted", "confirmed")), Event.at >= since)
    rows = session.exec(
        select(Event, Assignment, Commitment, Party)
        .join(Assignment, col(Assignment.id) == Event.assignment_id)
        .join(Commitment, col(Commitment.id) == Assignment.commitment_id)
        .join(Party, col(Party.code) == Assignment.party_code)
        .where(*this_week)
        .order_by(col(Event.at), col(Event.id))
        .limit(LIST_ROWS)
    ).all()
    total = session.exec(
        select(func.count())
        .select_from(Event)
        .join(Assignment, col(Assignment.id) == Event.assignment_id)
        .where(*this_week)
    ).one()
    views = [
        SubmissionView(
            item=_short(item_view(a, c, p, language=language, today=today, tag=tag)),
            state=e.action,
            on=local_date(e.at, zone),
            by=_who(e.actor, people, language),
        )
        for e, a, c, p in rows
    ]
    return views, int(total)


def _short(view: ItemView) -> ItemView:
    return replace(view, title=shorten(view.title))


def _who(actor: str, people: dict[str, tuple[str, str]], language: str) -> str:
    """A person for an event's actor: a reply's sender by name, the secretariat as such."""
    if actor.startswith("reply:"):
        address = actor.removeprefix("reply:")
        return people.get(address.lower(), (address, ""))[0]
    if actor in ("secretariat", "cli", "web"):
        return "la Secretaría" if language == "es" else "the secretariat"
    return actor


#: A repeated failure names at most this many items ("#14, #16, … and 40 more").
FAILURE_REFERENCES = 10


def _failures(session: Session, since: datetime, zone: str) -> list[FailureView]:
    """The week's failed deliveries, identical ones on one line; read as a stream, held per line."""
    rows = session.connection().execute(
        sa.select(
            col(Notification.assignment_id),
            col(Notification.kind),
            col(Notification.recipient),
            col(Notification.last_error),
            col(Notification.state),
            col(Notification.scheduled_at),
            col(Contact.name),
            col(Contact.email),
        )
        .join(Contact, col(Contact.id) == col(Notification.contact_id), isouter=True)
        .where(col(Notification.state).in_(("failed", "bounced")), col(Notification.scheduled_at) >= since)
        .order_by(col(Notification.scheduled_at), col(Notification.id))
        .execution_options(yield_per=2000)
    )
    # "7 reminders to X bounced" rather than seven lines that say the same.
    grouped: dict[tuple[str, str, str], tuple[FailureView, dict[str, None], int]] = {}
    typed = cast("Iterable[tuple[int | None, str, str, str, str, datetime, str | None, str | None]]", rows)
    for assignment_id, kind, address, error, state, at, name, email in typed:
        recipient = f"{name} <{email}>" if email is not None else address
        view = FailureView(
            recipient=recipient,
            reference=f"#{assignment_id}" if assignment_id else kind,
            kind=kind,
            error=error or state,
            on=local_date(at, zone),
        )
        _, references, count = grouped.get((recipient, kind, error), (view, {}, 0))
        if len(references) < FAILURE_REFERENCES:
            references[view.reference] = None
        grouped[(recipient, kind, error)] = (view, references, count + 1)
    out = []
    for last, references, count in grouped.values():
        listed = ", ".join(references)
        if count > len(references) and len(references) == FAILURE_REFERENCES:
            listed += ", …"
        out.append(replace(last, reference=listed, count=count))
    return out


def build_digest(ctx: BuildContext, group: DeliveryGroup, now: datetime) -> Draft | None:
    """This week's digest for the secretariat; None when empty and ``digest.send_when_empty`` is off."""
    settings = ctx.settings
    language = ctx.language(settings.secretariat.language)
    found = digest_email(ctx.engine, settings, ctx.renderer, now, language)
    if found is None:
        return None
    rendered, attachment = found
    to = [Mailbox(settings.secretariat.email, settings.secretariat.name)]
    return Draft("digest", rendered, to=to, attachments=[attachment] if attachment else [])


def digest_email(
    engine: Engine, settings: Settings, renderer: Renderer, now: datetime, language: str
) -> tuple[Rendered, Attachment | None] | None:
    """The digest as rendered and its attachment; None when empty and ``digest.send_when_empty`` is off.

    Every open item is attached as a CSV file (zipped when large); the
    file gets what the body leaves of :data:`MAX_EMAIL_BYTES`, and when
    even zipped it does not fit, it lists the oldest items that do and the
    email says how many.
    """
    context = collect_digest(engine, settings, now, language)
    if context.is_empty and not settings.digest.send_when_empty:
        return None
    if not context.items_total:
        return renderer.render("digest", language, context), None
    name = f"{pick(language, 'digest', 'resumen')}-{context.period_end.isoformat()}"
    context = replace(context, attachment=f"{name}.csv", attachment_items=context.items_total)
    rendered = renderer.render("digest", language, context)
    attachment, listed = item_file(engine, settings, now, language, name, attachment_budget(rendered))
    if (attachment.filename, listed) != (context.attachment, context.attachment_items):
        context = replace(context, attachment=attachment.filename, attachment_items=listed)
        rendered = renderer.render("digest", language, context)
    return rendered, attachment


#: Room kept for the headers, the MIME structure and a re-rendered note about the attachment.
ENVELOPE_BYTES = 12_000


def attachment_budget(rendered: Rendered) -> int:
    """Bytes the attached file may take (before base64) so that the whole email stays under the cap.

    Text parts go out quoted-printable, which can grow a part by a third
    (``=`` in HTML attributes, accented letters); base64 grows the file by
    37% with its line breaks.
    """
    body = len(rendered.text.encode("utf-8")) + len(rendered.html.encode("utf-8")) + len(rendered.subject)
    return max(0, int((MAX_EMAIL_BYTES - ENVELOPE_BYTES - body * 4 // 3) / 1.37))


ITEM_COLUMNS = {
    "en": ("reference", "owner", "owner_name", "commitment", "title", "due_date", "state", "days_left",
           "reminders_sent", "last_reply"),
    "es": ("referencia", "responsable", "nombre_responsable", "compromiso", "titulo", "plazo", "estado",
           "dias_restantes", "recordatorios_enviados", "ultima_respuesta"),
}  # fmt: skip
#: Compressed bytes the zip may still grow by after the last row is counted (zlib holds some back).
ZIP_SLACK = 24_000


def item_lines(engine: Engine, settings: Settings, now: datetime, language: str) -> Generator[bytes]:
    """The digest's items as CSV lines (UTF-8, CRLF; a byte-order mark and the header first), streamed.

    Every open item due by the digest's horizon, by owner and oldest first.
    """
    today = local_date(now, settings.secretariat.timezone)
    horizon = today + timedelta(days=settings.digest.upcoming_days)
    tag = settings.secretariat.tag
    line = _CsvLine()
    yield b"\xef\xbb\xbf" + line(ITEM_COLUMNS.get(language, ITEM_COLUMNS["en"]))
    with engine.connect() as conn:
        for aid, code, owner_en, owner_es, cid, title_en, title_es, due, state, sent, replied in every_item(
            conn, horizon
        ):
            yield line((
                reference_tag(tag, aid), code, pick(language, owner_en, owner_es), cid,
                pick(language, title_en, title_es), due.isoformat(), state, (due - today).days, sent or 0,
                replied.date().isoformat() if replied else "",
            ))  # fmt: skip


def item_file(
    engine: Engine, settings: Settings, now: datetime, language: str, name: str, budget: int
) -> tuple[Attachment, int]:
    """:func:`item_lines` as one file of at most ``budget`` bytes, and how many items it lists.

    A plain CSV file when it fits as such, else zipped; rows stop once even
    compressed they would not fit, so at most a budget's worth of
    compressed text is held, whatever the number of items.
    """
    lines: list[bytes] = []
    size = compressed = 0
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream = item_lines(engine, settings, now, language)
    for row in stream:
        compressed += len(compressor.compress(row))
        if compressed > budget - ZIP_SLACK and lines:
            break
        lines.append(row)
        size += len(row)
    stream.close()
    if size <= budget:
        return Attachment(f"{name}.csv", "text/csv", b"".join(lines), (("charset", "utf-8"),)), len(lines) - 1
    while True:
        data = _zip(f"{name}.csv", lines)
        if len(data) <= budget or len(lines) <= 1:
            return Attachment(f"{name}.zip", "application/zip", data), len(lines) - 1
        lines = lines[: max(1, len(lines) * 9 // 10)]


class _CsvLine:
    """One CSV record (RFC 4180, CRLF) as UTF-8 bytes."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def __call__(self, values: Sequence[object]) -> bytes:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow(values)
        return self._buffer.getvalue().encode("utf-8")


def _zip(member: str, lines: list[bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        archive.writestr(member, b"".join(lines))
    return buffer.getvalue()
