"""The data: ``load``, ``demo`` and the listings (``commitments``, ``contacts``, ``meetings``)."""

from __future__ import annotations

from pathlib import Path

import click
from sqlmodel import Session, col, select

from followup.cli.checks import require_party
from followup.cli.context import app, now_option
from followup.cli.output import emit_rows, format_option, working
from followup.clock import local_date
from followup.outbound.signing import signing_key
from followup.schedule.loading import apply_dataset
from followup.store.datafile import parse_files
from followup.store.models import Commitment, CommitmentOwner, Contact, Meeting, Party
from followup.store.status import rule_text


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--prune", is_flag=True, help="Remove items that no file mentions (history is kept, deactivated).")
@click.option("--dry-run", is_flag=True, help="Validate and report what would change; write nothing.")
@now_option
def load(files: tuple[Path, ...], prune: bool, dry_run: bool, now_text: str | None) -> None:
    """Load countries, organisations, contacts, meetings and commitments from YAML/CSV FILES.

    Upserts by stable id; a problem in any file is reported as FILE:LINE and
    nothing is written.
    """
    a = app()
    with working(a, f"loading {len(files)} file(s)"):
        data = parse_files(list(files))
        report = apply_dataset(
            a.engine(), data, now=a.now(now_text), prune=prune, dry_run=dry_run, zone=a.settings.secretariat.timezone
        )
    for line in report.summary_lines():
        if not a.quiet or "0 new, 0 updated" not in line:
            click.echo(line)
    if dry_run:
        click.echo("dry run: nothing written")


@click.command()
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), help="Shift the demo dates around this day.")
@click.option("--if-empty", is_flag=True, help="Load only when the database holds no commitments yet.")
@now_option
def demo(today: object, if_empty: bool, now_text: str | None) -> None:
    """Load the bundled RCM demo data set, with dates shifted around today.

    Relative to that day some items are due in two weeks, some today, some
    overdue, and an RCGM meeting is a month ahead.
    """
    from followup.paths import config_dir
    from followup.store.demo import demo_files, shift_demo

    a = app()
    engine = a.engine(migrate_first=True)
    signing_key(a.settings)
    now = a.now(now_text)
    day = today.date() if hasattr(today, "date") else local_date(now, a.settings.secretariat.timezone)
    if if_empty:
        with Session(engine) as session:
            if session.exec(select(Commitment.id).limit(1)).first() is not None:
                click.echo("database already has data; demo not loaded")
                return
    with working(a, "loading the demo"):
        data = shift_demo(parse_files(demo_files(config_dir() / "demo")), day)
        report = apply_dataset(engine, data, now=now, zone=a.settings.secretariat.timezone)
    click.echo(f"demo loaded around {day.isoformat()}")
    if not a.quiet:
        for line in report.summary_lines():
            click.echo(line)


@click.command()
@format_option
def commitments(fmt: str) -> None:
    """List commitments with their owners and due rules."""
    with Session(app().engine()) as session:
        owners: dict[str, list[str]] = {}
        for o in session.exec(select(CommitmentOwner)).all():
            owners.setdefault(o.commitment_id, []).append(o.party_code)
        rows = []
        for c in session.exec(select(Commitment).order_by(Commitment.id)).all():
            who = (["all members"] if c.owners_all_members else []) + sorted(owners.get(c.id, []))
            rule = rule_text(c)
            rows.append((c.id, c.title_en, ", ".join(who), rule, c.policy or "", "yes" if c.active else "no"))
    emit_rows(fmt, ["id", "title", "owners", "due", "policy", "active"], rows, "Commitments")


@click.command()
@format_option
@click.option("--country", help="Only contacts of this country or organisation code.")
def contacts(fmt: str, country: str | None) -> None:
    """List focal points with their language, role and address state."""
    with Session(app().engine()) as session:
        stmt = select(Contact, Party).join(Party).order_by(Contact.party_code, Contact.role, Contact.key)
        if country:
            stmt = stmt.where(Contact.party_code == require_party(session, country))
        rows = [
            (
                c.key,
                c.party_code,
                c.name,
                c.email,
                c.language or p.language,
                c.timezone or p.timezone,
                c.role,
                "yes" if c.active else "no",
                c.address_state,
            )
            for c, p in session.exec(stmt).all()
        ]
    emit_rows(fmt, ["id", "party", "name", "email", "language", "timezone", "role", "active", "address"], rows)


@click.command()
@format_option
def meetings(fmt: str) -> None:
    """List meetings."""
    with Session(app().engine()) as session:
        rows = [
            (m.id, m.kind, m.title_en, m.start_date.isoformat(), m.end_date.isoformat(), m.place)
            for m in session.exec(select(Meeting).order_by(col(Meeting.start_date))).all()
        ]
    emit_rows(fmt, ["id", "kind", "title", "start", "end", "place"], rows, "Meetings")


commands = [load, demo, commitments, contacts, meetings]
