"""Mail commands: ``tick``, ``digest``, ``preview`` and ``calendar``."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import signal
from datetime import date, datetime
from pathlib import Path

import click
from sqlalchemy import case
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from followup.cli.checks import require_party
from followup.cli.context import app, now_option
from followup.clock import as_utc, local_date
from followup.daemon.services import Mailer, send_digest, tick
from followup.errors import DeliveryError, NotFoundError, UsageError
from followup.outbound.dispatch import Dispatcher, Outgoing
from followup.outbound.emails.digest import collect_digest, digest_email, item_lines
from followup.outbound.owner_calendar import deadlines_feed
from followup.outbound.render import KINDS
from followup.outbound.signing import signing_key
from followup.outbound.transports.base import BaseTransport, Refusals
from followup.schedule.policy import load_schedule_policies
from followup.schedule.reminder_rules import DeliveryGroup
from followup.store.models import Assignment, Contact, Meeting, Notification, Party


@click.command(name="tick")
@now_option
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the emails a tick would send (recipient, kind, items), one line each; change nothing.",
)
def tick_command(now_text: str | None, dry_run: bool) -> None:
    """Plan and send everything due at that instant, then exit (for cron and tests).

    Exits 1 when emails were tried and none went out (the relay is down, or
    every one was refused). SIGINT/SIGTERM stop claiming, let SMTP
    transactions under way finish and hand back the rest.

    Prints one line per email sent (the dispatcher's own log line for each
    send is left to the daemon) and a summary.
    """
    a = app()
    engine = a.engine()
    now = a.now(now_text)
    failed_all = ""
    _printing_sends(a.debug)

    async def go() -> None:
        nonlocal failed_all
        mailer = Mailer.create(engine, a.settings, lease_clock=a.clock)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, mailer.dispatcher.stop)
        try:
            result = await tick(mailer, now, dry_run=dry_run)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await mailer.close()
        if dry_run:
            for line in result.messages:
                click.echo(f"would send: {line}")
            click.echo(f"dry run at {now.isoformat()}: {len(result.messages)} email(s) would be sent; nothing changed")
            return
        for line in [] if a.quiet else result.messages:
            click.echo(f"sent: {line}")
        click.echo(
            f"tick at {now.isoformat()}: {result.plan.planned} planned, {result.sent} sent, "
            f"{result.retrying} to retry, {result.failed} failed, {result.plan.cancelled} cancelled"
        )
        if result.halted:
            click.echo(f"waiting for the relay: {result.halted}; the rest go out in due order as it allows")
        for code in result.plan.unreachable[:20]:
            click.echo(f"warning: assignment {code} has no usable contact", err=True)
        if result.nothing_went_out:
            failed_all = f"nothing went out: {result.failed} failed, {result.retrying} to retry (see the log)"

    asyncio.run(go())
    if failed_all:
        raise DeliveryError(failed_all)


def _printing_sends(debug: bool) -> None:
    """The command prints each email it sends: the dispatcher's log line would say it a second time."""
    if not debug:
        logging.getLogger("followup.dispatch").setLevel(logging.WARNING)


@click.command(name="digest")
@now_option
@click.option("--send", "send", is_flag=True, help="Send this week's digest to the secretariat (once per week).")
@click.option("--preview", "preview", is_flag=True, help="Print the digest (the default).")
@click.option("--html", "html_out", type=click.Path(path_type=Path), help="Also write the HTML version here.")
@click.option(
    "--csv",
    "csv_out",
    type=click.Path(path_type=Path),
    help="Also write every open item it counts (overdue or due soon) to this CSV file, however many.",
)
def digest_command(
    now_text: str | None, send: bool, preview: bool, html_out: Path | None, csv_out: Path | None
) -> None:
    """The weekly digest: overdue by country, due soon, submissions, failures, replies to triage."""
    if send and preview:
        raise UsageError("choose --send or --preview, not both")
    if send and csv_out is not None:
        raise UsageError("--csv writes a file from the preview; it does not go with --send")
    a = app()
    engine = a.engine()
    now = a.now(now_text)
    if send:
        _printing_sends(a.debug)

        async def go() -> None:
            mailer = Mailer.create(engine, a.settings)
            try:
                result = await send_digest(mailer, now)
            finally:
                await mailer.close()
            digests = [m for m in result.messages if m.startswith("digest")]
            click.echo(digests[0] if digests else "no digest sent (already sent this week, or nothing to report)")

        asyncio.run(go())
        return
    from followup.outbound.render import renderer_for

    language = a.settings.secretariat.language
    renderer = renderer_for(a.settings.mail.templates_dir)
    found = digest_email(engine, a.settings, renderer, now, language)
    rendered = found[0] if found else renderer.render("digest", language, collect_digest(engine, a.settings, now))
    click.echo(f"Subject: {rendered.subject}\n")
    click.echo(rendered.text)
    if html_out is not None:
        html_out.write_text(rendered.html, encoding="utf-8")
        click.echo(f"HTML written to {html_out}")
    if csv_out is not None:
        items = -1
        try:
            with csv_out.open("wb") as fh:
                for line in item_lines(engine, a.settings, now, a.settings.secretariat.language):
                    fh.write(line)
                    items += 1
        except OSError as exc:
            raise click.ClickException(f"cannot write {csv_out}: {exc.strerror or exc}") from None
        click.echo(f"{items} {'item' if items == 1 else 'items'} written to {csv_out}")


@click.command(name="preview")
@click.argument("kind", type=click.Choice([k for k in KINDS if k != "acknowledgement"]))
@click.option("--assignment", "assignment_id", type=int, help="The assignment (reminder kinds, meeting_round).")
@click.option("--contact", "contact_key", help="Contact id (default: the owner's primary focal point).")
@click.option("--meeting", "meeting_id", help="Meeting id for meeting_round (default: the next one).")
@click.option("--language", type=click.Choice(["en", "es"]), help="Render in this language (default: the reader's).")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Write to FILE.eml (the whole message) or FILE.html (the HTML part); default: the terminal.",
)
@now_option
def preview_command(
    kind: str,
    assignment_id: int | None,
    contact_key: str | None,
    meeting_id: str | None,
    language: str | None,
    out: Path | None,
    now_text: str | None,
) -> None:
    """Render an email exactly as it would be sent, without sending or recording anything."""
    a = app()
    engine = a.engine()
    now = a.now(now_text)
    if out is not None and out.suffix.lower() not in (".eml", ".html"):
        raise UsageError(f"--out {out}: expected a .eml or .html file name")
    dispatcher = Dispatcher(
        engine,
        a.settings,
        _NoTransport(),
        secret=signing_key(a.settings),
        policies=load_schedule_policies(a.settings.schedule),
    )
    dispatcher.language_override = language
    row = _preview_row(engine, a.settings.secretariat.email, kind, assignment_id, contact_key, meeting_id, now)
    zone = _zone(engine, row, a.settings.secretariat.timezone)
    group = DeliveryGroup(row.contact_id, row.recipient, local_date(now, zone), (row,), (row,))
    from followup.outbound.emails.lookup import RowCache

    with Session(engine) as session:
        built = dispatcher.build(group, RowCache(session), now)
    if built is None:
        raise UsageError(f"nothing to put in a {kind} email for that choice (no open items)")
    _show(built, out)


def _zone(engine: Engine, row: Notification, fallback: str) -> str:
    """The reader's zone: the contact's own, else its party's, else the secretariat's."""
    with Session(engine) as session:
        contact = session.get(Contact, row.contact_id) if row.contact_id is not None else None
        if contact is None:
            return fallback
        party = session.get(Party, contact.party_code)
        return contact.timezone or (party.timezone if party else fallback)


def _preview_row(
    engine: Engine,
    secretariat_email: str,
    kind: str,
    assignment_id: int | None,
    contact_key: str | None,
    meeting_id: str | None,
    now: datetime,
) -> Notification:
    """An unsaved outbox row standing for the email to preview."""
    row = Notification(dedupe_key="preview", kind=kind, recipient=secretariat_email, scheduled_at=as_utc(now))
    row.id = 0
    if kind == "digest":
        return row
    with Session(engine) as session:
        assignment = session.get(Assignment, assignment_id) if assignment_id is not None else None
        if assignment_id is not None and assignment is None:
            raise NotFoundError(f"no assignment {assignment_id}")
        if kind == "meeting_round":
            meeting = _pick_meeting(session, meeting_id, as_utc(now).date())
            row.payload = {"meeting_id": meeting.id, "days": 7, "party_code": ""}
            if assignment is not None:
                contact = _pick_contact(session, contact_key, assignment.party_code)
                row.payload["party_code"] = assignment.party_code
                row.contact_id, row.recipient = contact.id, contact.email
            return row
        if assignment is None:
            raise UsageError(f"{kind} needs --assignment ID (see 'followup status')")
        contact = _pick_contact(session, contact_key, assignment.party_code)
        row.assignment_id, row.contact_id, row.recipient = assignment.id, contact.id, contact.email
        row.step, row.due_date = "preview", assignment.due_date
        row.payload = {"ordinal": 2 if kind == "escalation" else 1}
        if kind == "escalation":
            # An escalation copies the alternates and the secretariat: the preview shows them.
            alternates = session.exec(
                select(Contact.email).where(
                    Contact.party_code == assignment.party_code,
                    Contact.role == "alternate",
                    col(Contact.active),
                    Contact.address_state == "ok",
                    Contact.id != contact.id,
                )
            ).all()
            row.payload |= {"cc": [*alternates, secretariat_email], "cc_alternate": True, "cc_secretariat": True}
        return row


def _pick_contact(session: Session, key: str | None, party: str | None) -> Contact:
    if key:
        found = session.exec(select(Contact).where(Contact.key == key)).first()
        if found is None:
            raise NotFoundError(f"no contact {key!r} (see 'followup contacts')")
        return found
    # The primary focal point first, as the help says; then the alternates, then anyone else.
    rank = case((col(Contact.role) == "primary", 0), (col(Contact.role) == "alternate", 1), else_=2)
    stmt = (
        select(Contact)
        .where(Contact.party_code == party, col(Contact.active))
        .order_by(rank, col(Contact.address_state) != "ok", col(Contact.id))
    )
    found = session.exec(stmt).first()
    if found is None:
        raise NotFoundError(f"no active contact for {party}; name one with --contact")
    return found


def _pick_meeting(session: Session, meeting_id: str | None, today: date) -> Meeting:
    """The meeting named, else the next one to start (the latest one when none is ahead)."""
    if meeting_id:
        found = session.get(Meeting, meeting_id)
        if found is None:
            raise NotFoundError(f"no meeting {meeting_id!r} (see 'followup meetings')")
        return found
    ahead = select(Meeting).where(Meeting.start_date >= today).order_by(col(Meeting.start_date))
    latest = select(Meeting).order_by(col(Meeting.start_date).desc())
    found = session.exec(ahead).first() or session.exec(latest).first()
    if found is None:
        raise NotFoundError("no meetings loaded")
    return found


def _show(built: Outgoing, out: Path | None) -> None:
    data = built.message.data
    if out is not None and out.suffix.lower() == ".eml":
        out.write_bytes(data)
        click.echo(f"{built.summary}: written to {out}")
        return
    msg = email.message_from_bytes(data, policy=email.policy.default)
    html = text = ""
    for part in msg.walk():
        if part.get_content_type() == "text/html" and not html:
            html = str(part.get_content())
        elif part.get_content_type() == "text/plain" and not text:
            text = str(part.get_content())
    if out is not None:
        out.write_text(html, encoding="utf-8")
        click.echo(f"{built.summary}: HTML written to {out}")
        return
    for header in ("From", "To", "Cc", "Reply-To", "Subject"):
        if msg[header]:
            click.echo(f"{header}: {msg[header]}")
    attachments = [p.get_filename() for p in msg.walk() if p.get_filename()]
    if attachments:
        click.echo(f"Attachments: {', '.join(str(a) for a in attachments)}")
    click.echo("")
    click.echo(text)


class _NoTransport(BaseTransport):
    """Preview never sends."""

    async def send(self, sender: str, recipients: list[str], data: bytes) -> Refusals:
        raise RuntimeError("preview does not send")


@click.command(name="calendar")
@click.option("--country", "country", help="Only this owner's deadlines (e.g. HN).")
@click.option("--language", type=click.Choice(["en", "es"]), default=None, help="Wording (default: the owner's).")
@click.option("--out", type=click.Path(path_type=Path), help="Write the .ics here instead of standard output.")
@click.option("--days", type=int, default=365, show_default=True, help="Open deadlines due within this many days.")
@now_option
def calendar_command(
    country: str | None, language: str | None, out: Path | None, days: int, now_text: str | None
) -> None:
    """Write an iCalendar feed of open deadlines and meetings (import it in any calendar)."""
    a = app()
    engine = a.engine()
    if country:
        with Session(engine) as session:
            country = require_party(session, country)
    feed, count = deadlines_feed(engine, a.settings, a.now(now_text), country=country, language=language, days=days)
    if out is not None:
        out.write_bytes(feed)
        click.echo(f"{count} event(s) written to {out}")
    else:
        click.echo(feed.decode("utf-8"), nl=False)


commands = [tick_command, digest_command, preview_command, calendar_command]
