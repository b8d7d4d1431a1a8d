"""Fixtures for the web pages: a migrated SQLite file, one Spanish-speaking focal point with one item, the app."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from followup.clock import FixedClock
from followup.outbound.links import item_link
from followup.settings import Settings
from followup.store.db import make_engine, migrate
from followup.web.app import create_app
from followup.web.users import add_user
from tests.factories import make_assignment, make_commitment, make_contact, make_party, settings_for

SECRET = b"a-test-secret-that-is-long-enough"
PASSWORD = "correct horse battery"
DUE = date(2026, 8, 20)


@dataclass
class WebEnv:
    settings: Settings
    engine: Engine
    clock: FixedClock
    assignment_id: int
    contact_id: int
    other_contact_id: int
    other_assignment_id: int
    tmp_path: Path

    def link(self, assignment_id: int | None = None, contact_id: int | None = None, due: date = DUE) -> str:
        return item_link(self.settings, assignment_id or self.assignment_id, contact_id or self.contact_id, due, due)

    def path(self, **kwargs: object) -> str:
        return self.link(**kwargs).removeprefix("http://testserver")  # type: ignore[arg-type]

    def client(self, peer: str = "testclient") -> TestClient:
        """A browser at ``peer`` (the address the server sees: a proxy's, when one is in front)."""
        app = create_app(self.settings, self.engine, self.clock, SECRET)
        return TestClient(app, follow_redirects=False, client=(peer, 50000))


def make_env(tmp_path: Path, **env: str) -> WebEnv:
    settings = settings_for(
        tmp_path,
        FOLLOWUP_WEB__BASE_URL="http://testserver",
        FOLLOWUP_WEB__ARCHIVE_DIR=str(tmp_path / "archive"),
        FOLLOWUP_WEB__UPLOAD_MAX_BYTES="65536",
        **env,
    )
    engine = make_engine(settings.database_url)
    migrate(engine)
    with Session(engine) as session:
        make_party(session, "HN", name_en="Honduras", name_es="Honduras")
        make_party(session, "SV", name_en="El Salvador", name_es="El Salvador")
        contact = make_contact(session, "HN", name="Ana López", email="ana@hn.example.org", language="es")
        other = make_contact(session, "SV", name="Juan Pérez", email="juan@sv.example.org", language="es")
        make_commitment(
            session,
            "matrix",
            title_en="Integration matrix <b>bold</b>",
            title_es="Matriz de integración <b>x</b>",
            description_es="Completar la matriz.",
        )
        a = make_assignment(session, "matrix", "HN", DUE)
        b = make_assignment(session, "matrix", "SV", DUE)
        session.commit()
        assert a.id and b.id and contact.id and other.id
        ids = (a.id, contact.id, other.id, b.id)
    add_user(engine, "officer@rcm.example.org", "secretariat", PASSWORD, now=datetime(2026, 8, 1, tzinfo=UTC))
    add_user(engine, "viewer@rcm.example.org", "viewer", PASSWORD, now=datetime(2026, 8, 1, tzinfo=UTC))
    clock = FixedClock(datetime(2026, 8, 3, 14, 0, tzinfo=UTC))
    return WebEnv(settings, engine, clock, ids[0], ids[1], ids[2], ids[3], tmp_path)


@pytest.fixture
def web_env(tmp_path: Path) -> Iterator[WebEnv]:
    env = make_env(tmp_path)
    yield env
    env.engine.dispose()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def login(client: TestClient, email: str = "officer@rcm.example.org", password: str = PASSWORD) -> None:
    page = client.get("/login")
    response = client.post(
        "/login", data={"csrf": csrf_of(page.text), "email": email, "password": password, "next": "/matrix"}
    )
    assert response.status_code == 303, response.text
