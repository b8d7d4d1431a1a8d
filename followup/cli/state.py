"""Secretariat decisions on one assignment: ``confirm``, ``waive``, ``submitted`` and ``extend``."""

from __future__ import annotations

from datetime import date

import click

from followup.cli.context import app, now_option
from followup.clock import local_date
from followup.daemon.actions import extend, set_state
from followup.errors import UsageError


def _state_command(name: str, state: str, doc: str) -> click.Command:
    @click.command(name=name, help=doc)
    @click.argument("assignment", type=int)
    @click.option("--note", default="", help="Why; kept in the event log.")
    @click.option("--by", "actor", default="secretariat", show_default=True, help="Who made the change.")
    @now_option
    def command(assignment: int, note: str, actor: str, now_text: str | None) -> None:
        a = app()
        row = set_state(a.engine(), assignment, state, now=a.now(now_text), actor=actor, note=note)
        click.echo(f"assignment {row.id} ({row.commitment_id}, {row.party_code}) is now {row.state}")

    return command


confirm_command = _state_command(
    "confirm", "confirmed", "Accept an assignment's submission; no more reminders go out for it."
)
waive_command = _state_command("waive", "waived", "Waive an assignment; no more reminders go out for it.")
submitted_command = _state_command(
    "submitted", "submitted", "Record that an assignment was submitted (pending review)."
)


@click.command(name="extend")
@click.argument("assignment", type=int)
@click.option("--to", "to_date", required=True, help="The new due date (YYYY-MM-DD).")
@click.option("--note", default="", help="Why; kept in the event log.")
@click.option("--by", "actor", default="secretariat", show_default=True, help="Who granted the extension.")
@click.option("--force", is_flag=True, help="Accept a new due date before today (recording a past agreement).")
@now_option
def extend_command(assignment: int, to_date: str, note: str, actor: str, force: bool, now_text: str | None) -> None:
    """Give an assignment a new due date; its reminders re-arm for that date.

    A date before today is refused unless --force: it would make the item
    overdue at once, which is rarely what an extension means.
    """
    try:
        new_due = date.fromisoformat(to_date)
    except ValueError:
        raise UsageError(f"--to {to_date!r} is not a date (YYYY-MM-DD)") from None
    a = app()
    now = a.now(now_text)
    today = local_date(now, a.settings.secretariat.timezone)
    if new_due < today and not force:
        raise UsageError(
            f"--to {new_due.isoformat()} is before today ({today.isoformat()}); add --force if you mean it"
        )
    row = extend(a.engine(), assignment, new_due, now=now, actor=actor, note=note)
    click.echo(f"assignment {row.id} ({row.commitment_id}, {row.party_code}) now due {row.due_date.isoformat()}")


commands = [confirm_command, waive_command, submitted_command, extend_command]
