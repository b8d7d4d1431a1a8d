"""The ``followup`` command line.

Every error is one line on stderr and a non-zero exit code; ``--debug`` shows
the traceback. Every option that has an environment variable says so in
``--help``. Subcommands of other areas live in ``cli_*.py`` modules and are
registered at the bottom of this file.
"""

from __future__ import annotations

import logging
import sys
from datetime import date
from pathlib import Path

import click
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from followup import __version__
from followup.actions import extend, set_state
from followup.cli_context import NOW_HELP, AppContext, app
from followup.cli_output import FORMATS, emit_matrix, emit_rows
from followup.clock import local_date
from followup.datafile import parse_files
from followup.db import head_revision, one_line, schema_status
from followup.errors import DatabaseError, FollowupError, UsageError
from followup.loading import apply_dataset
from followup.logging_setup import configure_logging
from followup.models import Commitment, CommitmentOwner, Contact, Meeting, Party
from followup.queries import status_matrix
from followup.settings import load_settings
from followup.signing import signing_key
from followup.status import rule_text

log = logging.getLogger("followup.cli")

now_option = click.option("--now", "now_text", envvar="FOLLOWUP_NOW", show_envvar=True, help=NOW_HELP)
format_option = click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True, help="Output format."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    envvar="FOLLOWUP_CONFIG",
    show_envvar=True,
    help="TOML settings file (default: ./config/followup.toml when present).",
)
@click.option("--debug", is_flag=True, envvar="FOLLOWUP_DEBUG", show_envvar=True, help="Show tracebacks on errors.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="Log line format (overrides setting log.format). Env: FOLLOWUP_LOG__FORMAT.",
)
@click.version_option(__version__, prog_name="followup")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, debug: bool, log_format: str | None) -> None:
    """Chase dated commitments politely, on time, in the right language, and record every answer.

    Settings come from the TOML file, then FOLLOWUP_* environment variables
    (nested with __, e.g. FOLLOWUP_SMTP__HOST; secrets also from *_FILE).
    """
    ctx.ensure_object(dict)
    settings = load_settings(config_path)
    configure_logging(log_format or settings.log.format, "DEBUG" if debug else settings.log.level)
    ctx.obj = AppContext(settings=settings, debug=debug)
    ctx.call_on_close(ctx.obj.close)


@cli.command()
def init() -> None:
    """Create the database or upgrade it to the current schema, and the signing key if missing."""
    a = app()
    engine = a.engine(migrate_first=True)
    signing_key(a.settings)
    click.echo(f"database ready at revision {head_revision()} ({engine.url.render_as_string(hide_password=True)})")


@cli.command()
def check() -> None:
    """Verify configuration, database, migrations, policies and templates (exit 0 when healthy).

    Meant for the Docker HEALTHCHECK and for monitoring.
    """
    a = app()
    from followup.db import make_engine

    engine = make_engine(a.settings.database_url)
    try:
        current, head = schema_status(engine)
    finally:
        engine.dispose()
    if current != head:
        raise DatabaseError(f"database schema at {current or 'nothing'}, expected {head}: run 'followup init'")
    signing_key(a.settings, create=False)
    from followup.policy import load_schedule_policies
    from followup.render import KINDS, renderer_for

    policies = load_schedule_policies(a.settings.schedule)
    renderer = renderer_for(a.settings.mail.templates_dir)
    for kind in KINDS:
        for language in ("en", "es"):
            renderer.templates(kind, language)
    transport = f"smtp {a.settings.smtp.host}:{a.settings.smtp.port}" if a.settings.uses_smtp else "maildir"
    click.echo(
        f"ok: configuration valid, database at {head}, {len(policies)} reminder policies, "
        f"templates complete, delivery via {transport}"
    )


@cli.command()
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
    data = parse_files(list(files))
    report = apply_dataset(
        a.engine(), data, now=a.now(now_text), prune=prune, dry_run=dry_run, zone=a.settings.secretariat.timezone
    )
    for line in report.summary_lines():
        click.echo(line)
    if dry_run:
        click.echo("dry run: nothing written")


@cli.command()
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), help="Shift the demo dates around this day.")
@click.option("--if-empty", is_flag=True, help="Load only when the database holds no commitments yet.")
@now_option
def demo(today: object, if_empty: bool, now_text: str | None) -> None:
    """Load the bundled RCM demo data set, with dates shifted around today.

    Relative to that day some items are due in two weeks, some today, some
    overdue, and an RCGM meeting is a month ahead.
    """
    from followup.demo import demo_files, shift_demo
    from followup.paths import config_dir

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
    data = shift_demo(parse_files(demo_files(config_dir() / "demo")), day)
    report = apply_dataset(engine, data, now=now, zone=a.settings.secretariat.timezone)
    click.echo(f"demo loaded around {day.isoformat()}")
    for line in report.summary_lines():
        click.echo(line)


@cli.command()
@format_option
@click.option("--country", help="Only this owner code (e.g. HN).")
@now_option
def status(fmt: str, country: str | None, now_text: str | None) -> None:
    """Show the status matrix: commitments x owners.

    Cells: pending, due in N days, due today, overdue N days, submitted,
    confirmed, waived, extended; each with its assignment id (#N).
    """
    a = app()
    today = local_date(a.now(now_text), a.settings.secretariat.timezone)
    emit_matrix(status_matrix(a.engine(), today, country=country), fmt)


@cli.command()
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


@cli.command()
@format_option
@click.option("--country", help="Only contacts of this country or organisation code.")
def contacts(fmt: str, country: str | None) -> None:
    """List focal points with their language, role and address state."""
    with Session(app().engine()) as session:
        stmt = select(Contact, Party).join(Party).order_by(Contact.party_code, Contact.role, Contact.key)
        if country:
            stmt = stmt.where(Contact.party_code == country)
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


@cli.command()
@format_option
def meetings(fmt: str) -> None:
    """List meetings."""
    with Session(app().engine()) as session:
        rows = [
            (m.id, m.kind, m.title_en, m.start_date.isoformat(), m.end_date.isoformat(), m.place)
            for m in session.exec(select(Meeting).order_by(col(Meeting.start_date))).all()
        ]
    emit_rows(fmt, ["id", "kind", "title", "start", "end", "place"], rows, "Meetings")


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


cli.add_command(
    _state_command("confirm", "confirmed", "Accept an assignment's submission; no more reminders go out for it.")
)
cli.add_command(_state_command("waive", "waived", "Waive an assignment; no more reminders go out for it."))
cli.add_command(_state_command("submitted", "submitted", "Record that an assignment was submitted (pending review)."))


@cli.command(name="extend")
@click.argument("assignment", type=int)
@click.option("--to", "to_date", required=True, help="The new due date (YYYY-MM-DD).")
@click.option("--note", default="", help="Why; kept in the event log.")
@click.option("--by", "actor", default="secretariat", show_default=True, help="Who granted the extension.")
@now_option
def extend_command(assignment: int, to_date: str, note: str, actor: str, now_text: str | None) -> None:
    """Give an assignment a new due date; its reminders re-arm for that date."""
    try:
        new_due = date.fromisoformat(to_date)
    except ValueError:
        raise UsageError(f"--to {to_date!r} is not a date (YYYY-MM-DD)") from None
    a = app()
    row = extend(a.engine(), assignment, new_due, now=a.now(now_text), actor=actor, note=note)
    click.echo(f"assignment {row.id} ({row.commitment_id}, {row.party_code}) now due {row.due_date.isoformat()}")


def _register_optional() -> None:
    """Commands of other areas, added when their module is present."""
    import importlib

    for module, attr in (
        ("followup.cli_import", "import_plan"),
        ("followup.cli_mail", "commands"),
        ("followup.cli_replies", "commands"),
    ):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        found = getattr(mod, attr)
        for command in found if isinstance(found, list | tuple) else [found]:
            cli.add_command(command)


_register_optional()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; turn every error into one line and an exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="followup", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("followup: aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        hint = (
            f" (see 'followup {exc.ctx.command_path.split(' ', 1)[1]} --help')"
            if exc.ctx and " " in exc.ctx.command_path
            else " (see 'followup --help')"
        )
        click.echo(f"followup: error: {exc.format_message()}{hint}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"followup: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except FollowupError as exc:
        if debug:
            raise
        lines = str(exc).splitlines() or [type(exc).__name__]
        for line in lines:
            click.echo(f"followup: error: {line}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except SQLAlchemyError as exc:
        if debug:
            raise
        click.echo(f"followup: error: database: {one_line(exc)}", err=True)
        sys.exit(1)
    except Exception as exc:
        if debug:
            raise
        click.echo(
            f"followup: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True
        )
        sys.exit(70)
    sys.exit(0)


@cli.command()
def run() -> None:
    """Run the daemon: dispatch tick, occurrences, weekly digest and (with IMAP) the inbox poll.

    Jobs are rebuilt from the settings at start. SIGINT/SIGTERM finish
    in-flight work, release claims and exit 0.
    """
    import asyncio

    from followup.daemon import Daemon, install_signal_handlers
    from followup.jobs import build_jobs
    from followup.services import Mailer

    a = app()
    engine = a.engine()

    async def main_loop() -> None:
        mailer = Mailer.create(engine, a.settings)
        inbox = None
        if a.settings.imap.host:
            from followup.inbox import poll_imap

            secret = signing_key(a.settings)

            async def inbox() -> None:
                await poll_imap(engine, a.settings, clock=a.clock, secret=secret)

        daemon = Daemon(a.settings, a.clock, build_jobs(mailer, a.clock, inbox))

        async def on_stop() -> None:
            mailer.dispatcher.stop()
            await mailer.close()

        daemon.on_stop = on_stop
        install_signal_handlers(daemon)
        await daemon.run()

    asyncio.run(main_loop())
