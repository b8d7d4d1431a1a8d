"""The status round ahead of a meeting: each owner's open items, and the secretariat's matrix."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime, timedelta

from followup.clock import local_date
from followup.errors import PermanentDeliveryError
from followup.outbound.compose import Attachment, Mailbox, calendar_attachment
from followup.outbound.emails.base import BuildContext, Draft, deadline_entries
from followup.outbound.ics import calendar_feed, meeting_entry
from followup.outbound.links import item_link
from followup.outbound.render import ItemView, MeetingRoundContext, MeetingView, PartyItems, RoundSummary, pick
from followup.outbound.views import item_view, party_in_text, party_name, salutation, secretariat_view
from followup.schedule.reminder_rules import DeliveryGroup
from followup.store.matrix import MatrixStream, open_matrix
from followup.store.models import Meeting
from followup.store.open_items import oldest_per_owner, owner_counts
from followup.store.status import Tally


def build_meeting_round(ctx: BuildContext, group: DeliveryGroup, now: datetime) -> Draft | None:
    """An owner's round (its open items due by the meeting) or, without an owner, the secretariat's."""
    row = group.rows[0]
    rows = ctx.rows
    settings = ctx.settings
    meeting = rows.meeting(str(row.payload.get("meeting_id", "")))
    if meeting is None:
        return None
    today = local_date(now, settings.secretariat.timezone)
    party_code = str(row.payload.get("party_code") or "")
    tag = settings.secretariat.tag
    if party_code:
        open_rows = rows.open_by(meeting.start_date, party_code)
        contact = rows.contact(row.contact_id)
        if contact is None:
            raise PermanentDeliveryError(f"contact {row.contact_id} no longer exists")
        party = rows.party(party_code)
        language = ctx.language(contact.language, party.language)
        items = [
            item_view(
                a,
                c,
                p,
                language=language,
                today=today,
                tag=tag,
                link=item_link(settings, a.id or 0, contact.id, a.original_due_date, a.due_date),
            )
            for a, c, p in open_rows
        ]
        if not items:
            return None
        shown = meeting_view(meeting, language)
        context = MeetingRoundContext(
            recipient_name=contact.name,
            owner_name=party_name(party, language),
            owner_in_text=party_in_text(party, language),
            salutation=salutation(contact, language),
            meeting=shown,
            days_to_meeting=(meeting.start_date - today).days,
            items=tuple(items),
            secretariat=secretariat_view(settings, language),
            has_calendar=True,
        )
        rendered = ctx.renderer.render("meeting_round", language, context)
        return Draft(
            "meeting_round",
            rendered,
            to=[Mailbox(contact.email, contact.name)],
            assignment_ids=[i.assignment_id for i in items],
            attachments=[_calendar(ctx, meeting, shown, items, language, now)],
        )
    return _secretariat_round(ctx, meeting, today, now)


#: Owners whose missing items the secretariat's round lists (by code); the attached matrix has them all.
ROUND_OWNERS = 40
#: Above this size the attached matrix is zipped (a million cells make some 10 MB of CSV, which zips tenfold).
ZIP_ABOVE_BYTES = 1_000_000


def _secretariat_round(ctx: BuildContext, meeting: Meeting, today: date, now: datetime) -> Draft:
    """Counts and the status matrix from the streamed matrix; the missing items, a few per owner, from SQL.

    Nothing here holds more than one commitment's row of the matrix, the
    listed owners' oldest items and the (zipped when large) attachment.
    """
    settings = ctx.settings
    language = ctx.language(settings.secretariat.language)
    tag = settings.secretariat.tag
    session = ctx.rows.session
    due_by = meeting.start_date
    missing = {
        c.code: c.overdue + c.due_soon
        for c in owner_counts(session.connection(), today, due_by)
        if c.overdue + c.due_soon
    }
    listed = sorted(missing)[:ROUND_OWNERS]
    by_party: dict[str, list[ItemView]] = {code: [] for code in listed}
    per_owner = settings.digest.items_per_owner
    if per_owner and listed:
        for item in oldest_per_owner(session, due_by + timedelta(days=1), due_by, per_owner, listed):
            by_party[item.party.code].append(
                item_view(item.assignment, item.commitment, item.party, language=language, today=today, tag=tag)
            )
    tally = Tally()
    with open_matrix(ctx.engine, today) as stream:
        attachment, commitments = _matrix_file(stream, tally, f"status-{meeting.id}")
        owners = len(stream.owners)
    counts = tally.counts
    summary = RoundSummary(
        parties=owners,
        commitments=commitments,
        open=sum(v for k, v in counts.items() if k in ("pending", "due_soon", "due_today", "overdue", "extended")),
        overdue=counts.get("overdue", 0),
        submitted=counts.get("submitted", 0),
        confirmed=counts.get("confirmed", 0),
        waived=counts.get("waived", 0),
    )
    context = MeetingRoundContext(
        recipient_name=settings.secretariat.name,
        owner_name=settings.secretariat.name,
        meeting=meeting_view(meeting, language),
        days_to_meeting=(meeting.start_date - today).days,
        items=(),
        secretariat=secretariat_view(settings, language),
        summary=summary,
        open_by_party=tuple(
            PartyItems(party_name(ctx.rows.party(code), language), tuple(by_party[code]), missing[code])
            for code in listed
        ),
        has_attachment=True,
        open_owners_total=len(missing),
        attachment_zipped=attachment.filename.endswith(".zip"),
    )
    rendered = ctx.renderer.render("meeting_round", language, context)
    to = [Mailbox(settings.secretariat.email, settings.secretariat.name)]
    return Draft("meeting_round", rendered, to=to, attachments=[attachment])


def _matrix_file(stream: MatrixStream, tally: Tally, name: str) -> tuple[Attachment, int]:
    """The streamed matrix as a CSV attachment (zipped past :data:`ZIP_ABOVE_BYTES`), and its number of rows.

    Rows are written as they come: into memory while small, then through
    a zip member, so a large matrix costs its compressed size in memory.
    """
    codes = [code for code, _ in stream.owners]
    text = io.StringIO()
    text.write("\ufeff")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(["commitment", "title", "due_rule", *codes])
    archive: zipfile.ZipFile | None = None
    buffer = io.BytesIO()
    member: io.TextIOWrapper | None = None
    rows = 0
    for row in stream.rows:
        tally.add(row)
        rows += 1
        cells = row.cells
        writer.writerow(
            [row.commitment_id, row.title, row.due_rule, *[cells[c].label if c in cells else "" for c in codes]]
        )
        if archive is None and text.tell() > ZIP_ABOVE_BYTES:
            archive = zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6)
            member = io.TextIOWrapper(archive.open(f"{name}.csv", "w"), encoding="utf-8", newline="")
            member.write(text.getvalue())
            writer = csv.writer(member, lineterminator="\r\n")
    if archive is None or member is None:
        data = text.getvalue().encode("utf-8")
        return Attachment(f"{name}.csv", "text/csv", data, (("charset", "utf-8"),)), rows
    member.close()
    archive.close()
    return Attachment(f"{name}.zip", "application/zip", buffer.getvalue()), rows


def _calendar(
    ctx: BuildContext, meeting: Meeting, view: MeetingView, items: list[ItemView], language: str, now: datetime
) -> Attachment:
    """The meeting and the deadlines the round lists that are still ahead, as one calendar file."""
    domain = ctx.settings.mail.domain
    entries = deadline_entries(ctx, items, language)
    entries.append(
        meeting_entry(
            meeting_id=meeting.id,
            start_date=meeting.start_date,
            end_date=meeting.end_date,
            title=view.title,
            place=meeting.place,
            domain=domain,
        )
    )
    ics = calendar_feed(entries, now=now, name=view.title)
    return calendar_attachment(ics, pick(language, "deadlines", "plazos") + ".ics")


def meeting_view(meeting: Meeting, language: str) -> MeetingView:
    return MeetingView(
        title=pick(language, meeting.title_en, meeting.title_es),
        start_date=meeting.start_date,
        end_date=meeting.end_date,
        place=meeting.place,
    )
