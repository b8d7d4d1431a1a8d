"""The status round ahead of a meeting: each owner's open items, and the secretariat's matrix."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from followup.clock import local_date
from followup.errors import PermanentDeliveryError
from followup.outbound.compose import Attachment, Mailbox, calendar_attachment, csv_attachment
from followup.outbound.emails.base import BuildContext, Draft, deadline_entries
from followup.outbound.ics import calendar_feed, meeting_entry
from followup.outbound.links import item_link
from followup.outbound.render import ItemView, MeetingRoundContext, MeetingView, PartyItems, RoundSummary, pick
from followup.outbound.views import item_view, party_in_text, party_name, salutation, secretariat_view
from followup.schedule.reminder_rules import DeliveryGroup
from followup.store.models import Meeting
from followup.store.queries import status_matrix


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
    open_rows = rows.open_by(meeting.start_date, party_code or None)
    if party_code:
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
    language = ctx.language(settings.secretariat.language)
    by_party: dict[str, list[ItemView]] = {}
    names: dict[str, str] = {}
    for a, c, p in open_rows:
        view = item_view(a, c, p, language=language, today=today, tag=tag)
        by_party.setdefault(p.code, []).append(view)
        names[p.code] = view.owner_name
    matrix = status_matrix(ctx.engine, today)
    counts = matrix.counts()
    summary = RoundSummary(
        parties=len(matrix.owners),
        commitments=len(matrix.rows),
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
        open_by_party=tuple(PartyItems(names[code], tuple(items)) for code, items in sorted(by_party.items())),
        has_attachment=True,
    )
    rendered = ctx.renderer.render("meeting_round", language, context)
    header = ["commitment", "title", "due_rule", *[code for code, _ in matrix.owners]]
    csv_rows: list[list[Any]] = [header]
    for r in matrix.rows:
        csv_rows.append(
            [
                r.commitment_id,
                r.title,
                r.due_rule,
                *[r.cells[c].label if c in r.cells else "" for c, _ in matrix.owners],
            ]
        )
    attachment = csv_attachment(csv_rows, f"status-{meeting.id}.csv")
    to = [Mailbox(settings.secretariat.email, settings.secretariat.name)]
    return Draft("meeting_round", rendered, to=to, attachments=[attachment])


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
