"""The web pages and what they need: ``web`` (serve), ``user`` (accounts) and ``archive`` (submitted files)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlmodel import Session, col, select

from followup.cli.context import app, now_option
from followup.cli.output import FORMATS, emit_rows
from followup.errors import UsageError
from followup.inbound.archive import archive_for, backfill, export_zip, list_files
from followup.outbound.signing import signing_key
from followup.store.models import WebUser
from followup.store.vocabulary import WEB_ROLES


@click.command(name="web")
def web_command() -> None:
    """Serve the web pages (status, triage, outbox, item links) on web.host:web.port.

    SIGINT/SIGTERM finish the requests in flight and exit 0.
    """
    import asyncio
    import signal

    from followup.web.server import address, make_server

    a = app()
    server = make_server(a.settings, a.engine(), a.clock, signing_key(a.settings), embedded=True)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        click.echo(f"serving {address(a.settings)} (Ctrl-C to stop)")
        await server.serve()

    asyncio.run(serve())


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@click.group(name="user")
def user_group() -> None:
    """Secretariat accounts for the web pages."""


@user_group.command(name="add")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice(WEB_ROLES),
    default="viewer",
    show_default=True,
    help="secretariat may act; viewer only looks.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (one line).")
@now_option
def user_add(email: str, role: str, password_stdin: bool, now_text: str | None) -> None:
    """Create an account (asks for its password)."""
    from followup.web.users import add_user

    a = app()
    user = add_user(a.engine(), email, role, _password(password_stdin), now=a.now(now_text))
    click.echo(f"user {user.email} added ({user.role})")


@user_group.command(name="passwd")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (one line).")
@now_option
def user_passwd(email: str, password_stdin: bool, now_text: str | None) -> None:
    """Set an account's password; its open sessions end."""
    from followup.web.users import set_password

    a = app()
    user = set_password(a.engine(), email, _password(password_stdin), now=a.now(now_text))
    click.echo(f"password of {user.email} changed")


@user_group.command(name="remove")
@click.argument("email")
def user_remove(email: str) -> None:
    """Delete an account; its sessions end."""
    from followup.web.users import remove_user

    remove_user(app().engine(), email)
    click.echo(f"user {email} removed")


@user_group.command(name="list")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def user_list(fmt: str) -> None:
    """List accounts and their roles."""
    with Session(app().engine()) as session:
        users = session.exec(select(WebUser).order_by(col(WebUser.email))).all()
    emit_rows(fmt, ["email", "role", "active"], [[u.email, u.role, u.active] for u in users])


@click.group(name="archive")
def archive_group() -> None:
    """Files submitted through item links or attached to matched replies."""


@archive_group.command(name="list")
@click.option("--commitment", help="Only files for this commitment id.")
@click.option("--party", help="Only files of this owner code (e.g. HN).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def archive_list(commitment: str | None, party: str | None, fmt: str) -> None:
    """List archived files with their item, owner, channel and size."""
    with Session(app().engine()) as session:
        rows = list_files(session, commitment=commitment, party=party)
    emit_rows(
        fmt,
        ["id", "assignment", "commitment", "party", "received_at", "channel", "name", "type", "size"],
        [
            [
                r.id,
                r.assignment_id,
                r.commitment_id,
                r.party_code,
                r.received_at.isoformat(timespec="seconds"),
                r.channel,
                r.original_name,
                r.media_type,
                r.size,
            ]
            for r in rows
        ],
    )


@archive_group.command(name="export")
@click.option("--commitment", help="Only files for this commitment id.")
@click.option("--party", help="Only files of this owner code (e.g. HN).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The ZIP file to write.")
def archive_export(commitment: str | None, party: str | None, out: Path) -> None:
    """Write the files and a manifest.csv into one ZIP."""
    if out.suffix.lower() != ".zip":
        raise UsageError(f"--out {out}: expected a .zip file name")
    a = app()
    with Session(a.engine()) as session:
        rows = list_files(session, commitment=commitment, party=party)
    with out.open("wb") as fh:
        count = export_zip(archive_for(a.settings), rows, fh)
    click.echo(f"{count} file(s) written to {out}")


@archive_group.command(name="backfill")
@now_option
def archive_backfill(now_text: str | None) -> None:
    """Archive the attachments of matched replies stored before the archive existed (safe to repeat)."""
    a = app()
    added = backfill(a.engine(), a.settings, a.now(now_text))
    click.echo(f"{added} file(s) archived")


commands = [web_command, user_group, archive_group]
