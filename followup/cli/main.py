"""The ``followup`` command line.

Every error is one line on stderr and a non-zero exit code; ``--debug`` shows
the traceback. Every option that has an environment variable says so in
``--help``. This module is the index: each command group lives in its own
module of :mod:`followup.cli` and is registered here.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from sqlalchemy.exc import SQLAlchemyError

from followup import __version__
from followup.cli.context import AppContext
from followup.errors import FollowupError
from followup.logging_setup import configure_logging
from followup.settings import load_settings
from followup.store.db import one_line

log = logging.getLogger("followup.cli")


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


def _register_commands() -> None:
    """Add every command group's commands to the ``followup`` group."""
    from followup.cli import admin, data, history, mail, plan, replies, state

    for module in (admin, data, state, mail, replies, history):
        for command in module.commands:
            cli.add_command(command)
    cli.add_command(plan.import_plan)


_register_commands()


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
