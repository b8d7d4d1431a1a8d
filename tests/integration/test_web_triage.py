"""The triage page: refusing an extension, attaching an unmatched reply, the same services as the CLI."""

from __future__ import annotations

import re
from datetime import date
from email.message import EmailMessage

from sqlalchemy import func
from sqlmodel import Session, col, select

from followup.inbound.archive import Archive
from followup.inbound.ingest import ingest
from followup.store.models import ArchiveFile, Assignment, Event, InboundMatch, InboundMessage, Notification
from tests.web_app import SECRET, WebEnv, csrf_of, login

PDF = b"%PDF-1.4\nreport from a stranger\n%%EOF\n"


def _ask_for_time(env: WebEnv, until: str = "2026-09-10") -> None:
    fp = env.client()
    link = env.path()
    response = fp.post(link, data={"csrf": csrf_of(fp.get(link).text), "action": "more_time", "until": until})
    assert response.status_code == 303


def _triage_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'action="/triage/(\d+)"', html)]


def _events(env: WebEnv, **where: object) -> list[Event]:
    with Session(env.engine) as session:
        stmt = select(Event).order_by(col(Event.id))
        for name, value in where.items():
            stmt = stmt.where(getattr(Event, name) == value)
        return list(session.exec(stmt).all())


def _notifications(env: WebEnv) -> int:
    with Session(env.engine) as session:
        return session.exec(select(func.count()).select_from(Notification)).one()


def test_refusing_an_extension_keeps_the_due_date_and_closes_the_request(web_env: WebEnv) -> None:
    _ask_for_time(web_env)
    with Session(web_env.engine) as session:
        a = session.get(Assignment, web_env.assignment_id)
        assert a is not None and a.extension_requested_to == date(2026, 9, 10)
    emails_before = _notifications(web_env)  # the acknowledgement of the request, if any
    officer = web_env.client()
    login(officer)
    page = officer.get("/triage")
    [message_id] = _triage_ids(page.text)
    assert "Refuse extension</button>" in page.text
    response = officer.post(
        f"/triage/{message_id}", data={"csrf": csrf_of(page.text), "action": "refuse", "note": "needed for the meeting"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/triage?done=refuse"
    after = officer.get("/triage?done=refuse").text
    assert "Extension refused." in after
    assert "Nothing waits in triage." in after
    with Session(web_env.engine) as session:
        a = session.get(Assignment, web_env.assignment_id)
        assert a is not None
        assert (a.state, a.due_date, a.extension_requested_to) == ("pending", date(2026, 8, 20), None)
        m = session.get(InboundMessage, message_id)
        assert m is not None and m.triage == "assigned"  # dealt with, still attached to its item
    [refused] = _events(web_env, action="extension-refused")
    assert (refused.assignment_id, refused.actor) == (web_env.assignment_id, "officer@rcm.example.org")
    assert refused.details["channel"] == "web"
    assert refused.details["note"] == "needed for the meeting"
    assert refused.details["inbound_id"] == message_id
    [decided] = _events(web_env, action="reply-decided")
    assert (decided.entity_id, decided.details["decision"]) == (str(message_id), "refused")
    assert _events(web_env, action="extended") == []
    # `followup extend` sends the focal point nothing, and neither does a refusal.
    assert _notifications(web_env) == emails_before
    # A second refusal (another tab, a double click) changes nothing.
    again = officer.post(f"/triage/{message_id}", data={"csrf": csrf_of(page.text), "action": "refuse"})
    assert again.status_code == 409
    assert "already decided" in again.text
    assert len(_events(web_env, action="extension-refused")) == 1


def test_an_extension_cannot_be_granted_over_a_confirmed_item(web_env: WebEnv) -> None:
    _ask_for_time(web_env)
    officer = web_env.client()
    login(officer)
    item = f"/assignments/{web_env.assignment_id}"
    officer.post(item, data={"csrf": csrf_of(officer.get(item).text), "action": "confirm"})
    page = officer.get("/triage")
    [message_id] = _triage_ids(page.text)
    response = officer.post(f"/triage/{message_id}", data={"csrf": csrf_of(page.text), "action": "accept"})
    assert response.status_code == 409
    assert "reopen it before extending" in response.text
    assert _triage_ids(officer.get("/triage").text) == [message_id]  # still waiting for a decision


def _stranger_reply(*, body: str, with_pdf: bool) -> bytes:
    msg = EmailMessage()
    msg["From"] = "María Gómez <mgomez@cancilleria.hn.example>"  # not a known focal point
    msg["To"] = "ts@rcm.example.org"
    msg["Subject"] = "Informe de Honduras"
    msg["Message-ID"] = f"<stranger.{abs(hash(body)) % 10**9}@cancilleria.hn.example>"
    msg.set_content(body)
    if with_pdf:
        msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="informe-hn.pdf")
    return msg.as_bytes()


def test_assigning_an_unmatched_reply_logs_it_against_the_item_and_archives_its_file(web_env: WebEnv) -> None:
    result = ingest(
        web_env.engine,
        web_env.settings,
        _stranger_reply(body="Buenos días, adjunto el informe solicitado. Saludos.", with_pdf=True),
        source="test",
        now=web_env.clock.now(),
        secret=SECRET,
    )
    assert result.assignment_ids == () and result.triage == "open"
    assert result.inbound_id is not None
    message_id = result.inbound_id
    officer = web_env.client()
    login(officer)
    page = officer.get("/triage")
    assert _triage_ids(page.text) == [message_id]
    assert "mgomez@cancilleria.hn.example" in page.text
    assert "Matched:" not in page.text
    response = officer.post(
        f"/triage/{message_id}",
        data={"csrf": csrf_of(page.text), "action": "assign", "assignment": str(web_env.assignment_id)},
    )
    assert response.status_code == 303
    assert "Nothing waits in triage." in officer.get("/triage").text
    with Session(web_env.engine) as session:
        assert session.get(InboundMatch, (message_id, web_env.assignment_id)) is not None
        m = session.get(InboundMessage, message_id)
        assert m is not None and (m.triage, m.match_method) == ("assigned", "manual")
        a = session.get(Assignment, web_env.assignment_id)
        assert a is not None and a.state == "pending"  # attaching decides nothing
        [archived] = session.exec(select(ArchiveFile)).all()
    assert (archived.assignment_id, archived.inbound_id) == (web_env.assignment_id, message_id)
    assert (archived.channel, archived.original_name) == ("email", "informe-hn.pdf")
    assert Archive(web_env.settings.web.archive_dir).path_of(archived.sha256).read_bytes() == PDF
    [assigned] = _events(web_env, action="reply-assigned")
    assert (assigned.assignment_id, assigned.actor, assigned.details["channel"]) == (
        web_env.assignment_id,
        "officer@rcm.example.org",
        "web",
    )
    assert assigned.details["inbound_id"] == message_id
    # The item's page now shows the reply, its excerpt and its file.
    item = officer.get(f"/assignments/{web_env.assignment_id}").text
    assert "adjunto el informe solicitado" in item
    assert "informe-hn.pdf" in item
    # An unknown assignment is refused and changes nothing.
    missing = officer.post(
        f"/triage/{message_id}", data={"csrf": csrf_of(page.text), "action": "assign", "assignment": "999999"}
    )
    assert missing.status_code == 409
    assert "no assignment 999999" in missing.text


def test_an_unmatched_extension_request_stays_in_triage_once_assigned_until_decided(web_env: WebEnv) -> None:
    result = ingest(
        web_env.engine,
        web_env.settings,
        _stranger_reply(body="Estimados, solicitamos una prórroga hasta el 15 de septiembre de 2026.", with_pdf=False),
        source="test",
        now=web_env.clock.now(),
        secret=SECRET,
    )
    assert result.intent == "extension" and result.assignment_ids == ()
    message_id = result.inbound_id
    officer = web_env.client()
    login(officer)
    page = officer.get("/triage")
    assert "Accept extension to 2026-09-15" in page.text
    refused = officer.post(f"/triage/{message_id}", data={"csrf": csrf_of(page.text), "action": "accept"})
    assert refused.status_code == 409
    assert "assign it first" in refused.text
    officer.post(
        f"/triage/{message_id}",
        data={"csrf": csrf_of(page.text), "action": "assign", "assignment": str(web_env.assignment_id)},
    )
    page = officer.get("/triage")
    assert _triage_ids(page.text) == [message_id]
    assert f'href="/assignments/{web_env.assignment_id}"' in page.text
    granted = officer.post(f"/triage/{message_id}", data={"csrf": csrf_of(page.text), "action": "accept"})
    assert granted.status_code == 303
    with Session(web_env.engine) as session:
        a = session.get(Assignment, web_env.assignment_id)
        assert a is not None
        assert (a.state, a.due_date, a.extension_requested_to) == ("extended", date(2026, 9, 15), None)
    assert "Nothing waits in triage." in officer.get("/triage").text
