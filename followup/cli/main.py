"""The ``followup`` command line.

Every error is one line on stderr and a non-zero exit code; ``--debug`` shows
the traceback. Every option that has an environment variable says so in
``--help``. This module is the index: each command lives in its own module of
:mod:`followup.cli`, named in :data:`COMMANDS` and imported only when it is
used, so that ``followup --help`` answers without loading the database,
template and mail libraries (a test keeps it that way).
"""

from __future__ import annotations

import gc
import importlib
import sys
from pathlib import Path

import click

from followup import __version__
from followup.errors import FollowupError

#: Command name -> (module of followup.cli, attribute, the one line ``followup --help`` shows).
#: tests/e2e/test_cli_startup.py checks that each line is the command's own short help.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "archive": ("web", "archive_group", "Files submitted through item links or attached to matched replies."),
    "calendar": (
        "mail",
        "calendar_command",
        "Write an iCalendar feed of open deadlines and meetings (import it in any calendar).",
    ),
    "check": (
        "admin",
        "check",
        "Verify configuration, database, migrations, policies and templates (exit 0 when healthy).",
    ),
    "commitments": ("data", "commitments", "List commitments with their owners and due rules."),
    "confirm": ("state", "confirm_command", "Accept an assignment's submission; no more reminders go out for it."),
    "contacts": ("data", "contacts", "List focal points with their language, role and address state."),
    "demo": ("data", "demo", "Load the bundled RCM demo data set, with dates shifted around today."),
    "digest": (
        "mail",
        "digest_command",
        "The weekly digest: overdue by country, due soon, submissions, failures, replies to triage.",
    ),
    "extend": ("state", "extend_command", "Give an assignment a new due date; its reminders re-arm for that date."),
    "history": (
        "history",
        "history_command",
        "Every email sent, reply received and state change, and who made it, oldest first.",
    ),
    "import-plan": (
        "plan",
        "import_plan",
        "Propose commitments from a plan-of-action table FILE (.txt export, .docx or .csv).",
    ),
    "inbox": ("replies", "inbox_group", "The IMAP mailbox that receives replies."),
    "ingest": (
        "replies",
        "ingest_command",
        "Read replies from .eml files, mbox files or Maildir folders, and act on them.",
    ),
    "init": (
        "admin",
        "init",
        "Create the database or upgrade it to the current schema, and the signing key if missing.",
    ),
    "load": (
        "data",
        "load",
        "Load countries, organisations, contacts, meetings and commitments from YAML/CSV FILES.",
    ),
    "meetings": ("data", "meetings", "List meetings."),
    "outbox": ("outbox", "outbox_group", "The outbox of emails: re-queue what failed."),
    "preview": (
        "mail",
        "preview_command",
        "Render an email exactly as it would be sent, without sending or recording anything.",
    ),
    "replies": ("replies", "replies", "List inbound messages with classification, intent, match and an excerpt."),
    "run": (
        "admin",
        "run",
        "Run the daemon: dispatch tick, occurrences, weekly digest and (with IMAP) the inbox poll.",
    ),
    "status": ("status", "status", "Show where each commitment stands, for each owner."),
    "submitted": ("state", "submitted_command", "Record that an assignment was submitted (pending review)."),
    "tick": ("mail", "tick_command", "Plan and send everything due at that instant, then exit (for cron and tests)."),
    "user": ("web", "user_group", "Secretariat accounts for the web pages."),
    "waive": ("state", "waive_command", "Waive an assignment; no more reminders go out for it."),
    "web": ("web", "web_command", "Serve the web pages (status, triage, outbox, item links) on web.host:web.port."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported when one is run, not to list them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attribute, _ = entry
        command = getattr(importlib.import_module(f"followup.cli.{module}"), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from :data:`COMMANDS`, without importing any command."""
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [
            (name, click.Command(name, help=COMMANDS[name][2]).get_short_help_str(limit)) for name in sorted(COMMANDS)
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
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
@click.option(
    "-q", "--quiet", is_flag=True, help="Print only results, warnings and errors: no progress bars, no log chatter."
)
@click.version_option(__version__, prog_name="followup")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, debug: bool, log_format: str | None, quiet: bool) -> None:
    """Chase dated commitments politely, on time, in the right language, and record every answer.

    Settings come from the TOML file, then FOLLOWUP_* environment variables
    (nested with __, e.g. FOLLOWUP_SMTP__HOST; secrets also from *_FILE).
    Run 'followup COMMAND --help' for a command's options.
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
        ctx.exit(0)
    from followup.cli.context import AppContext
    from followup.logging_setup import configure_logging
    from followup.settings import load_settings, unknown_environment

    for warning in unknown_environment():
        click.echo(f"followup: warning: {warning}", err=True)
    settings = load_settings(config_path)
    level = "DEBUG" if debug else ("WARNING" if quiet else settings.log.level)
    configure_logging(log_format or settings.log.format, level)
    ctx.obj = AppContext(settings=settings, debug=debug, quiet=quiet)
    ctx.call_on_close(ctx.obj.close)
    _started()


def _started() -> None:
    """Start-up is over (the command and its libraries imported, settings read): collect garbage again.

    :func:`main` turns the cyclic garbage collector off while the command's
    libraries load: they allocate hundreds of thousands of objects that live
    as long as the process, and the collector, run by allocation counts,
    would walk them all several times for nothing (tens of milliseconds of a
    command that answers in a few hundred). Freezing them keeps later
    collections from walking them again; from here on the collector runs as
    usual, for commands that work long (the daemon, a large ingest).
    """
    gc.freeze()
    gc.enable()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; turn every error into one line and an exit code."""
    gc.disable()  # until start-up is over: see _started
    try:
        _run(argv)
    finally:
        gc.enable()


def _run(argv: list[str] | None) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        # Without standalone mode click returns the code of a ctx.exit() or Exit raised by a command.
        code = cli.main(args=argv, prog_name="followup", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("followup: aborted", err=True)
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as exc:
        # A group named without a command ('followup inbox'): its help is the answer, not an error.
        click.echo(exc.ctx.get_help())
        sys.exit(0)
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
    except Exception as exc:
        if debug:
            raise
        if _is_database_error(exc):
            from followup.store.db import one_line

            click.echo(f"followup: error: database: {one_line(exc)}", err=True)
            sys.exit(1)
        click.echo(
            f"followup: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True
        )
        sys.exit(70)
    sys.exit(0)


def _is_database_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from SQLAlchemy (never imported here when no command touched a database)."""
    if "sqlalchemy" not in sys.modules:
        return False
    from sqlalchemy.exc import SQLAlchemyError

    return isinstance(exc, SQLAlchemyError)
