"""Shared fixtures: real databases (a SQLite file per test, PostgreSQL when configured)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from followup.clock import FixedClock
from followup.store.db import make_engine, migrate

pytest_plugins = ["tests.smtp_server", "tests.dovecot", "tests.web_app"]

POSTGRES_URL = os.environ.get("FOLLOWUP_TEST_POSTGRES_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"
REPO = Path(__file__).resolve().parent.parent
# Everything tests read lives under here: a fresh clone must be enough to run them.
FIXTURES = REPO / "tests" / "fixtures"


def require_server(available: bool, reason: str) -> None:
    """Skip with a visible reason on a user's machine; fail under CI."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"CI must provide this server: {reason}")
    pytest.skip(reason)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 8, 3, 14, 0, tzinfo=UTC))


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'followup.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    """A fresh schema in the test PostgreSQL, dropped afterwards."""
    require_server(bool(POSTGRES_URL), "FOLLOWUP_TEST_POSTGRES_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(POSTGRES_URL)
    engine = engine.execution_options(schema_translate_map=None)
    sa.event.listen(engine, "connect", lambda dbapi_conn, _rec: _set_search_path(dbapi_conn, schema))
    migrate(engine)
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _set_search_path(dbapi_conn: object, schema: str) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cur.execute(f'SET search_path TO "{schema}"')
    cur.close()
    dbapi_conn.commit()  # type: ignore[attr-defined]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Run a test against SQLite and, when configured, PostgreSQL."""
    name = "sqlite_engine" if request.param == "sqlite" else "postgres_engine"
    result: Engine = request.getfixturevalue(name)
    return result
