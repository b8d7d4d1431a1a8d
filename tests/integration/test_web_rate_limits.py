"""Rate limits counted in the database: one limit for every web process, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from followup.store.db import make_engine
from followup.store.models import RateCount
from followup.web.rate_limits import PURGE_EVERY, SharedRateLimit
from tests.conftest import _set_search_path
from tests.web_app import WebEnv, csrf_of, make_env

T0 = datetime(2026, 8, 3, 14, 0, tzinfo=UTC)


def test_the_window_slides_and_refused_events_are_not_counted(engine: Engine) -> None:
    limit = SharedRateLimit(engine, "t", 2, timedelta(minutes=1))
    assert limit.hit("a", T0)
    assert limit.hit("a", T0 + timedelta(seconds=5))
    assert not limit.hit("a", T0 + timedelta(seconds=30))
    assert limit.blocked("a", T0 + timedelta(seconds=30))
    assert limit.hit("b", T0)  # another key counts apart
    assert not SharedRateLimit(engine, "other", 2, timedelta(minutes=1)).blocked("a", T0)  # and another limit
    assert limit.hit("a", T0 + timedelta(seconds=61))  # the first two are out of the window
    assert limit.hit("a", T0 + timedelta(seconds=62))
    assert not limit.hit("a", T0 + timedelta(seconds=63))
    limit.reset("a")
    assert limit.hit("a", T0 + timedelta(seconds=62))


def _another_process(engine: Engine) -> Engine:
    """A second engine on the same database (and, on PostgreSQL, the test's schema), as another process has."""
    other = make_engine(engine.url.render_as_string(hide_password=False))
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
        sa.event.listen(other, "connect", lambda dbapi_conn, _rec: _set_search_path(dbapi_conn, schema))
    return other


def test_processes_share_one_limit(engine: Engine) -> None:
    """Two limiters on two engines (two processes) count against one limit, even at the same instant."""
    second = _another_process(engine)
    try:
        limiters = [SharedRateLimit(e, "t", 10, timedelta(minutes=1)) for e in (engine, second)]
        allowed: list[bool] = []
        barrier = threading.Barrier(4)

        def hammer(limiter: SharedRateLimit) -> None:
            barrier.wait(timeout=10)
            for _ in range(5):
                allowed.append(limiter.hit("addr:203.0.113.9", T0))

        threads = [threading.Thread(target=hammer, args=(limiters[i % 2],)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert allowed.count(True) == 10
        assert allowed.count(False) == 10
    finally:
        second.dispose()


def test_expired_rows_are_purged(engine: Engine) -> None:
    limit = SharedRateLimit(engine, "t", PURGE_EVERY * 2, timedelta(minutes=1))
    for i in range(PURGE_EVERY - 1):
        assert limit.hit(f"k{i}", T0)
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(RateCount)).one() == PURGE_EVERY - 1
    limit.hit("late", T0 + timedelta(minutes=2))  # the 500th event purges what no longer counts
    with Session(engine) as session:
        assert session.exec(select(RateCount.key)).all() == ["t:late"]


def test_two_web_processes_share_the_login_limit(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    try:
        other = WebEnv(**{**env.__dict__, "engine": make_engine(env.settings.database_url)})
        clients = [env.client(), other.client()]
        codes = []
        for attempt in range(env.settings.web.login_attempts + 1):
            client = clients[attempt % 2]
            csrf = csrf_of(client.get("/login").text)
            response = client.post(
                "/login", data={"csrf": csrf, "email": "officer@rcm.example.org", "password": "wrong password"}
            )
            codes.append(response.status_code)
        assert codes == [401] * env.settings.web.login_attempts + [429]
        other.engine.dispose()
    finally:
        env.engine.dispose()


def test_two_web_processes_share_the_link_limit(web_env: WebEnv) -> None:
    other = WebEnv(**{**web_env.__dict__, "engine": make_engine(web_env.settings.database_url)})
    try:
        clients = [web_env.client(), other.client()]
        path = web_env.path()
        limit = web_env.settings.web.requests_per_minute
        codes = [clients[i % 2].get(path).status_code for i in range(limit + 1)]
        assert codes == [200] * limit + [429]
    finally:
        other.engine.dispose()
