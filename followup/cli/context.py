"""What every CLI command receives: settings, the clock and a database on demand.

Every command module takes this object from ``click.get_current_context().obj``
so that :mod:`followup.cli.main` stays a thin index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import click
from sqlalchemy.engine import Engine

from followup.clock import Clock, SystemClock, parse_now
from followup.logging_setup import follow_clock
from followup.settings import Settings
from followup.store.db import ensure_current, make_engine, migrate


@dataclass
class AppContext:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    debug: bool = False
    #: ``--quiet``: no progress bars and no chatter, only results, warnings and errors.
    quiet: bool = False
    _engine: Engine | None = None

    def engine(self, *, migrate_first: bool = False) -> Engine:
        """The database engine; refuses a schema that is not at head unless asked to migrate."""
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url)
        if migrate_first:
            migrate(self._engine)
        else:
            ensure_current(self._engine)
        return self._engine

    def now(self, override: str | None = None) -> datetime:
        """``--now`` when given (ISO date or datetime, secretariat zone when naive), else the clock."""
        if override:
            now = parse_now(override, self.settings.secretariat.timezone)
            follow_clock(now)
            return now
        return self.clock.now()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def app(ctx: click.Context | None = None) -> AppContext:
    """The AppContext of the running command."""
    ctx = ctx or click.get_current_context()
    obj = ctx.find_object(AppContext)
    if obj is None:
        raise click.UsageError("internal: no application context")
    return obj


NOW_HELP = "Act as if it were this instant (ISO-8601 date or datetime; default: the real clock). Env: FOLLOWUP_NOW."
now_option = click.option("--now", "now_text", envvar="FOLLOWUP_NOW", show_envvar=True, help=NOW_HELP)
