"""Reply commands: ``ingest``, ``inbox poll`` and ``replies`` (list, show, assign, grant, refuse, dismiss)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import click
from sqlmodel import Session, col, select

from followup.cli.context import app, now_option
from followup.cli.output import FORMATS, emit_rows, progress
from followup.clock import FixedClock
from followup.daemon.triage import assign_message, dismiss_message, get_message, grant_extension, refuse_extension
from followup.errors import NotFoundError, UsageError
from followup.inbound.inbox import InboxResult, ingest_files, poll_imap
from followup.outbound.signing import signing_key
from followup.store.models import Assignment, InboundMatch, InboundMessage, InboundRaw


def _report(result: InboxResult, *, quiet: bool = False, refused: str = "warning") -> None:
    if not quiet:
        for label, outcome in result.results:
            shown = f"#{outcome.inbound_id} " if outcome.inbound_id else ""
            click.echo(f"{label}: {shown}{outcome.describe()}")
    for label, reason in result.unreadable:
        click.echo(f"followup: {refused}: {label}: {reason}", err=True)
    click.echo(f"{result.stored} stored, {result.duplicates} already known, {len(result.unreadable)} unreadable")


@click.command(name="ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@now_option
def ingest_command(paths: tuple[Path, ...], now_text: str | None) -> None:
    """Read replies from .eml files, mbox files or Maildir folders, and act on them.

    Each message is stored before it is interpreted and is never stored
    twice. A file that is not an email (no header block with From or
    Message-ID) is refused and not stored; a damaged email is stored and
    quarantined. Exits 1 when any path was refused or unreadable, after
    reading the others.
    """
    a = app()
    engine = a.engine()
    clock = FixedClock(a.now(now_text)) if now_text else a.clock
    if not a.debug:
        # Each message gets its line below; the ingester's own log line would repeat it.
        logging.getLogger("followup.ingest").setLevel(logging.WARNING)
    with progress(a, "ingesting") as advance:
        result = ingest_files(
            engine, a.settings, list(paths), clock=clock, secret=signing_key(a.settings), on_progress=advance
        )
    _report(result, quiet=a.quiet, refused="error")
    if result.unreadable:
        raise click.exceptions.Exit(1)


@click.group(name="inbox")
def inbox_group() -> None:
    """The IMAP mailbox that receives replies."""


@inbox_group.command(name="poll")
@now_option
def inbox_poll(now_text: str | None) -> None:
    """Fetch new messages from the configured IMAP folder once, and act on them."""
    a = app()
    if not a.settings.imap.host:
        raise UsageError("no IMAP host configured (setting imap.host, FOLLOWUP_IMAP__HOST)")
    engine = a.engine()
    clock = FixedClock(a.now(now_text)) if now_text else a.clock
    if not a.debug:
        logging.getLogger("followup.ingest").setLevel(logging.WARNING)
    result = asyncio.run(poll_imap(engine, a.settings, clock=clock, secret=signing_key(a.settings)))
    _report(result, quiet=a.quiet)


@click.group(name="replies", invoke_without_command=True)
@click.option("--unmatched", is_flag=True, help="Only messages waiting in triage (unmatched, unverified, questions).")
@click.option("--assignment", "assignment_id", type=int, help="Only messages matched to this assignment.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--limit", type=int, default=100, show_default=True, help="At most this many, newest first.")
@click.pass_context
def replies(ctx: click.Context, unmatched: bool, assignment_id: int | None, fmt: str, limit: int) -> None:
    """List inbound messages with classification, intent, match and an excerpt.

    The table puts the sender, subject and excerpt in one wrapped column so
    that it reads in 80 columns; CSV and JSON give every field.
    """
    if ctx.invoked_subcommand is not None:
        return
    with Session(app().engine()) as session:
        stmt = select(InboundMessage).order_by(col(InboundMessage.id).desc()).limit(limit)
        if unmatched:
            stmt = stmt.where(InboundMessage.triage == "open")
        if assignment_id is not None:
            if session.get(Assignment, assignment_id) is None:
                raise NotFoundError(f"no assignment {assignment_id} (see 'followup status')")
            stmt = stmt.join(InboundMatch, col(InboundMatch.inbound_id) == InboundMessage.id).where(
                InboundMatch.assignment_id == assignment_id
            )
        messages = session.exec(stmt).all()
        ids = [m.id for m in messages if m.id is not None]
        matches: dict[int, list[int]] = {}
        if ids:
            for m_id, a_id in session.exec(
                select(InboundMatch.inbound_id, InboundMatch.assignment_id).where(col(InboundMatch.inbound_id).in_(ids))
            ).all():
                matches.setdefault(m_id, []).append(a_id)
    columns = [
        "id",
        "received",
        "sender",
        "subject",
        "class",
        "intent",
        "assignments",
        "matched_by",
        "verified",
        "triage",
        "excerpt",
    ]
    rows = [
        (
            m.id,
            m.received_at.isoformat(timespec="minutes") if m.received_at else "",
            m.sender,
            m.subject[:80],
            m.classification,
            m.intent if m.classification == "human" else "",
            " ".join(f"#{a}" for a in sorted(matches.get(m.id or 0, []))),
            m.match_method,
            "yes" if m.verified else "no",
            m.triage,
            _excerpt(m.new_text),
        )
        for m in messages
    ]
    if fmt != "table":
        emit_rows(fmt, columns, rows, "Replies")
        return
    if not rows:
        click.echo("no replies" + (" waiting in triage" if unmatched else ""))
        return
    emit_replies(rows)


def _excerpt(text: str, limit: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + "…"


def emit_replies(rows: Sequence[tuple[object, ...]]) -> None:
    """A few columns a line, then the subject and the excerpt wrapped beneath: fits 80 columns."""
    from rich.markup import escape
    from rich.table import Table

    from followup.cli.output import console

    out = console()
    table = Table(show_lines=True, title="Replies (newest first)")
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("received", no_wrap=True)
    table.add_column("from / subject / excerpt", overflow="fold", ratio=1)
    table.add_column("understood", overflow="fold", max_width=22)
    table.add_column("triage", no_wrap=True)
    for mid, received, sender, subject, cls, intent, assigned, method, verified, triage, excerpt in rows:
        understood = str(intent or cls)
        if assigned:
            understood += f"\n{assigned}" + (f" by {method}" if method else "")
            understood += "" if verified == "yes" else "\n[yellow]unverified[/]"
        about = f"[bold]{escape(str(sender))}[/]\n{escape(str(subject))}"
        if excerpt:
            about += f"\n[dim]{escape(str(excerpt))}[/]"
        table.add_row(str(mid), str(received).replace("T", "\n"), about, understood, str(triage))
    out.print(table)


@replies.command(name="show")
@click.argument("message", type=int)
@click.option("--raw", is_flag=True, help="Print the message exactly as received.")
def replies_show(message: int, raw: bool) -> None:
    """Show one inbound message: what was understood, and its text."""
    with Session(app().engine()) as session:
        m = get_message(session, message)
        if raw:
            stored = session.get(InboundRaw, message)
            click.echo(stored.raw.decode("utf-8", errors="replace") if stored else "", nl=False)
            return
        matched = session.exec(select(InboundMatch.assignment_id).where(InboundMatch.inbound_id == message)).all()
    info = {
        "id": m.id,
        "message_id": m.message_id,
        "from": f"{m.sender_name} <{m.sender}>" if m.sender_name else m.sender,
        "subject": m.subject,
        "received": m.received_at.isoformat() if m.received_at else None,
        "source": m.source,
        "classification": m.classification,
        "intent": m.intent,
        "proposed_date": m.proposed_date.isoformat() if m.proposed_date else None,
        "return_date": m.return_date.isoformat() if m.return_date else None,
        "bounced_recipient": m.bounced_recipient or None,
        "matched": sorted(matched),
        "matched_by": m.match_method,
        "verified": m.verified,
        "sender_not_authenticated": m.auth_failure or None,
        "triage": m.triage,
        "quarantined": m.quarantined,
        "error": m.error or None,
        "attachments": m.attachments,
    }
    click.echo(json.dumps(info, ensure_ascii=False, indent=2))
    click.echo("")
    click.echo(m.new_text)


@replies.command(name="assign")
@click.argument("message", type=int)
@click.argument("assignment", type=int)
@click.option("--by", "actor", default="secretariat", show_default=True, help="Who resolved the triage.")
@now_option
def replies_assign(message: int, assignment: int, actor: str, now_text: str | None) -> None:
    """Attach a message waiting in triage to an assignment (state changes stay yours: confirm, extend)."""
    a = app()
    assign_message(a.engine(), a.settings, message, assignment, now=a.now(now_text), actor=actor)
    click.echo(f"message {message} attached to assignment {assignment}")


@replies.command(name="grant")
@click.argument("message", type=int)
@click.option("--note", default="", help="Why; kept in the event log.")
@click.option("--by", "actor", default="secretariat", show_default=True, help="Who granted the extension.")
@now_option
def replies_grant(message: int, note: str, actor: str, now_text: str | None) -> None:
    """Grant an extension request: its items become due on the date it asks."""
    a = app()
    ids = grant_extension(a.engine(), message, now=a.now(now_text), actor=actor, note=note)
    items = ", ".join(f"#{i}" for i in ids) or "no item (already due that day)"
    click.echo(f"message {message}: extension granted for {items}")


@replies.command(name="refuse")
@click.argument("message", type=int)
@click.option("--note", default="", help="Why; kept in the event log.")
@click.option("--by", "actor", default="secretariat", show_default=True, help="Who refused the extension.")
@now_option
def replies_refuse(message: int, note: str, actor: str, now_text: str | None) -> None:
    """Refuse an extension request: its items keep their due date."""
    a = app()
    ids = refuse_extension(a.engine(), message, now=a.now(now_text), actor=actor, note=note)
    click.echo(f"message {message}: extension refused for {', '.join(f'#{i}' for i in ids)}")


@replies.command(name="dismiss")
@click.argument("message", type=int)
@click.option("--note", default="", help="Why; kept in the event log.")
@click.option("--by", "actor", default="secretariat", show_default=True)
@now_option
def replies_dismiss(message: int, note: str, actor: str, now_text: str | None) -> None:
    """Take a message out of triage without attaching it to anything."""
    a = app()
    dismiss_message(a.engine(), message, now=a.now(now_text), actor=actor, note=note)
    click.echo(f"message {message} dismissed")


commands = [ingest_command, inbox_group, replies]
