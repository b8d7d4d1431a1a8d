"""``status``: the matrix of commitments x owners, streamed from the database.

Its own module, importing only what the matrix needs (SQLAlchemy Core, no
SQLModel, no template or mail library), so that asking about one owner costs
little more than starting the command line; ``tests/e2e/test_cli_startup.py``
keeps it so.
"""

from __future__ import annotations

import click

from followup.cli.checks import require_party
from followup.cli.context import app, now_option
from followup.cli.output import LAYOUTS, emit_matrix_stream, format_option
from followup.clock import local_date
from followup.store.matrix import open_matrix


@click.command()
@format_option
@click.option("--country", help="Only this owner code (e.g. HN).")
@click.option(
    "--by",
    type=click.Choice(LAYOUTS),
    default="auto",
    show_default=True,
    help="Table layout: one row per commitment (the matrix), per owner (transposed), or a summary per owner; "
    "auto picks the matrix when it fits the terminal, else the summary.",
)
@now_option
def status(fmt: str, country: str | None, by: str, now_text: str | None) -> None:
    """Show where each commitment stands, for each owner.

    Cells: pending, due in N days, due today, overdue N days, submitted,
    confirmed, waived, extended; each with its assignment id (#N). Rows come
    sorted by due date. The summary gives each owner's counts (overdue, due
    within 30 days, later, submitted, closed) and its next item due. CSV and
    JSON always give the whole matrix.
    """
    a = app()
    today = local_date(a.now(now_text), a.settings.secretariat.timezone)
    engine = a.engine()
    if country:
        with engine.connect() as conn:
            country = require_party(conn, country)
    with open_matrix(engine, today, country=country) as stream:
        emit_matrix_stream(stream, fmt, by)


commands = [status]
