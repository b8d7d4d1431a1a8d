"""A reverse proxy that signs users in: its user header counts only from its own address."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from followup.store.models import Assignment, Event
from followup.web.users import remove_user
from tests.web_app import WebEnv, csrf_of, login, make_env

PROXY = "10.0.0.5"
HEADER = "X-Remote-User"


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[WebEnv]:
    env = make_env(tmp_path, FOLLOWUP_WEB__TRUSTED_PROXIES="10.0.0.0/24", FOLLOWUP_WEB__PROXY_USER_HEADER=HEADER)
    yield env
    env.engine.dispose()


def test_the_header_of_a_trusted_proxy_signs_the_user_in_and_they_act_as_themselves(proxied: WebEnv) -> None:
    client = proxied.client(peer=PROXY)
    client.headers[HEADER] = "Officer@RCM.example.org"  # as the proxy spells it
    page = client.get(f"/assignments/{proxied.assignment_id}")
    assert page.status_code == 200
    assert "officer@rcm.example.org" in page.text
    response = client.post(
        f"/assignments/{proxied.assignment_id}", data={"csrf": csrf_of(page.text), "action": "confirm"}
    )
    assert response.status_code == 303
    with Session(proxied.engine) as session:
        a = session.get(Assignment, proxied.assignment_id)
        assert a is not None and a.state == "confirmed"
        [event] = session.exec(select(Event).where(Event.assignment_id == proxied.assignment_id)).all()
    assert (event.action, event.actor, event.details["channel"]) == ("confirmed", "officer@rcm.example.org", "web")
    # The viewer's header gives the viewer's rights, no more.
    viewer = proxied.client(peer=PROXY)
    viewer.headers[HEADER] = "viewer@rcm.example.org"
    page = viewer.get(f"/assignments/{proxied.assignment_id}")
    assert page.status_code == 200
    path = f"/assignments/{proxied.assignment_id}"
    refused = viewer.post(path, data={"csrf": csrf_of(page.text), "action": "reopen"})
    assert refused.status_code == 403


def test_the_header_from_anyone_else_is_ignored(proxied: WebEnv) -> None:
    direct = proxied.client(peer="203.0.113.9")
    direct.headers[HEADER] = "officer@rcm.example.org"
    response = direct.get("/matrix")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    # ... and the password still works there, the header changing nothing.
    login(direct, "viewer@rcm.example.org")
    page = direct.get("/matrix")
    assert page.status_code == 200
    assert "viewer@rcm.example.org" in page.text
    assert "officer@rcm.example.org" not in page.text


def test_the_header_is_ignored_when_no_proxy_is_trusted(tmp_path: Path) -> None:
    env = make_env(tmp_path, FOLLOWUP_WEB__PROXY_USER_HEADER=HEADER)
    try:
        client = env.client(peer=PROXY)
        client.headers[HEADER] = "officer@rcm.example.org"
        assert client.get("/matrix").status_code == 303
    finally:
        env.engine.dispose()


def test_an_unknown_or_removed_user_named_by_the_proxy_is_refused(proxied: WebEnv) -> None:
    stranger = proxied.client(peer=PROXY)
    stranger.headers[HEADER] = "intruder@rcm.example.org"
    response = stranger.get("/matrix")
    assert response.status_code == 403
    assert "No account for intruder@rcm.example.org" in response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert stranger.post("/triage/1", data={"action": "dismiss"}).status_code == 403
    # A session cookie does not stand in for the name the proxy gave.
    login(stranger, "viewer@rcm.example.org")
    assert stranger.get("/matrix").status_code == 403
    removed = proxied.client(peer=PROXY)
    removed.headers[HEADER] = "officer@rcm.example.org"
    assert removed.get("/matrix").status_code == 200
    remove_user(proxied.engine, "officer@rcm.example.org")
    assert removed.get("/matrix").status_code == 403
    with Session(proxied.engine) as session:
        actions = session.exec(select(Event.action).where(Event.entity != "web_user").order_by(col(Event.id))).all()
    assert actions == []  # nothing happened in anyone's name


def test_without_the_header_a_trusted_proxy_passes_the_session_cookie(proxied: WebEnv) -> None:
    client = proxied.client(peer=PROXY)
    assert client.get("/matrix").status_code == 303  # to the login page
    login(client, "viewer@rcm.example.org")
    page = client.get("/matrix")
    assert page.status_code == 200
    assert "viewer@rcm.example.org" in page.text


def test_a_proxy_address_is_trusted_only_inside_its_network(proxied: WebEnv) -> None:
    outside = proxied.client(peer="10.0.1.5")  # 10.0.0.0/24 does not hold it
    outside.headers[HEADER] = "officer@rcm.example.org"
    assert outside.get("/matrix").status_code == 303
