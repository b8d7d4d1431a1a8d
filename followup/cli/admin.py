"""Setting up and running: ``init``, ``check`` and ``run`` (the daemon)."""

from __future__ import annotations

import click

from followup.cli.context import app
from followup.errors import DatabaseError
from followup.outbound.signing import missing_key, signing_key
from followup.store.db import head_revision, schema_status


@click.command()
def init() -> None:
    """Create the database or upgrade it to the current schema, and the signing key if missing."""
    a = app()
    engine = a.engine(migrate_first=True)
    signing_key(a.settings)
    click.echo(f"database ready at revision {head_revision()} ({engine.url.render_as_string(hide_password=True)})")


@click.command()
def check() -> None:
    """Verify configuration, database, migrations, policies and templates (exit 0 when healthy).

    Meant for the Docker HEALTHCHECK and for monitoring.
    """
    a = app()
    from followup.outbound.outbox import failed_count
    from followup.store.db import make_engine

    engine = make_engine(a.settings.database_url)
    try:
        current, head = schema_status(engine)
        failed = failed_count(engine) if current == head else 0
    finally:
        engine.dispose()
    if current != head:
        raise DatabaseError(f"database schema at {current or 'nothing'}, expected {head}: run 'followup init'")
    missing = missing_key(a.settings)
    if missing is None:
        signing_key(a.settings, create=False)
    else:
        click.echo(
            f"followup: warning: no signing key at {missing}: the first process to need one creates it; "
            "run 'followup init' (or set signing_secret) so every process and replica shares one",
            err=True,
        )
    from followup.outbound.render import KINDS, renderer_for
    from followup.schedule.policy import load_schedule_policies

    policies = load_schedule_policies(a.settings.schedule)
    renderer = renderer_for(a.settings.mail.templates_dir)
    for kind in KINDS:
        for language in ("en", "es"):
            renderer.templates(kind, language)
    transport = f"smtp {a.settings.smtp.host}:{a.settings.smtp.port}" if a.settings.uses_smtp else "maildir"
    if failed:
        click.echo(
            f"warning: {failed} notification(s) failed and will not be retried: "
            "'followup outbox retry --failed' re-queues them",
            err=True,
        )
    click.echo(
        f"ok: configuration valid, database at {head}, {len(policies)} reminder policies, "
        f"templates complete, delivery via {transport}"
    )


@click.command()
def run() -> None:
    """Run the daemon: dispatch tick, occurrences, weekly digest and (with IMAP) the inbox poll.

    Jobs are rebuilt from the settings at start; with web.enabled the web
    pages are served too. Several daemons may share one database: each email
    is sent once, and a resend after a crash carries the first try's
    Message-ID. SIGINT/SIGTERM stop claiming at once, let SMTP transactions
    under way finish (up to schedule.stop_timeout_seconds, default 60 s), hand back every other claimed email and
    exit 0.
    """
    import asyncio

    from followup.daemon.jobs import build_jobs
    from followup.daemon.lifecycle import Daemon, install_signal_handlers
    from followup.daemon.services import Mailer

    a = app()
    engine = a.engine()

    async def main_loop() -> None:
        mailer = Mailer.create(engine, a.settings, lease_clock=a.clock)
        inbox = None
        if a.settings.imap.host:
            from followup.inbound.inbox import poll_imap

            secret = signing_key(a.settings)

            async def inbox() -> None:
                await poll_imap(engine, a.settings, clock=a.clock, secret=secret)

        daemon = Daemon(a.settings, a.clock, build_jobs(mailer, a.clock, inbox))
        web_task = None
        if a.settings.web.enabled:
            from followup.web.server import address, make_server

            server = make_server(a.settings, engine, a.clock, signing_key(a.settings), embedded=True)
            web_task = asyncio.create_task(server.serve(), name="web")
            click.echo(f"web pages at {address(a.settings)}")

        async def on_stop() -> None:
            mailer.dispatcher.stop()
            if web_task is not None:
                server.should_exit = True
                await web_task
            await mailer.close()

        daemon.on_stop = on_stop
        daemon.on_stopping = mailer.dispatcher.stop
        install_signal_handlers(daemon)
        await daemon.run()

    asyncio.run(main_loop())


commands = [init, check, run]
