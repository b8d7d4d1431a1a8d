"""The outbox: ``followup outbox retry`` puts emails that failed, or wait for a retry, back in line."""

from __future__ import annotations

import click

from followup.cli.context import app, now_option
from followup.clock import parse_now
from followup.outbound.outbox import requeue


@click.group(name="outbox")
def outbox_group() -> None:
    """The outbox of emails: re-queue what failed."""


@outbox_group.command(name="retry")
@click.option("--failed", "include_failed", is_flag=True, help="Also re-queue emails given up on (state failed).")
@click.option("--since", "since_text", help="Only emails whose last try was at or after this date or datetime.")
@now_option
def retry_command(include_failed: bool, since_text: str | None, now_text: str | None) -> None:
    """Send emails waiting for a retry at the next tick instead of at their retry time.

    With --failed, emails given up on (temporary failures that outlasted
    smtp.max_attempts, or permanent refusals) get a fresh set of attempts
    too. They keep their Message-ID. The next tick (or the running daemon)
    sends them.
    """
    a = app()
    zone = a.settings.secretariat.timezone
    since = parse_now(since_text, zone) if since_text else None
    outcome = requeue(a.engine(), a.now(now_text), failed=include_failed, since=since)
    click.echo(
        f"re-queued {len(outcome.retrying) + len(outcome.failed)} email step(s): "
        f"{len(outcome.retrying)} waiting for a retry, {len(outcome.failed)} failed"
    )


commands = [outbox_group]
