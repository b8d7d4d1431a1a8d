"""A focal point's item page through the ASGI test client: GET shows, POST acts, nothing else gets in."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta

from sqlmodel import Session, col, select

from followup.store.models import ArchiveFile, Assignment, Event, InboundMatch, InboundMessage, Notification
from followup.web.app import create_app
from followup.web.security import sign
from tests.web_app import SECRET, WebEnv, csrf_of

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"


def _state(env: WebEnv, assignment_id: int | None = None) -> str:
    with Session(env.engine) as session:
        row = session.get(Assignment, assignment_id or env.assignment_id)
        assert row is not None
        return row.state


def _events(env: WebEnv) -> list[Event]:
    with Session(env.engine) as session:
        return list(session.exec(select(Event).order_by(col(Event.id))).all())


def test_get_shows_the_item_in_the_contacts_language_and_changes_nothing(web_env: WebEnv) -> None:
    client = web_env.client()
    before = len(_events(web_env))
    for _ in range(3):
        page = client.get(web_env.path())
        assert page.status_code == 200
    assert 'lang="es"' in page.text
    assert "Matriz de integración &lt;b&gt;x&lt;/b&gt;" in page.text  # escaped, in Spanish
    assert "<b>x</b>" not in page.text
    assert "Ya lo envié" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert "script-src" not in page.headers["content-security-policy"]
    assert _state(web_env) == "pending"
    assert len(_events(web_env)) == before


def test_sent_with_a_pdf_marks_submitted_archives_and_acknowledges(web_env: WebEnv) -> None:
    client = web_env.client()
    path = web_env.path()
    csrf = csrf_of(client.get(path).text)
    response = client.post(
        path,
        data={"csrf": csrf, "action": "sent", "note": "Enviado <script>alert(1)</script>"},
        files=[("files", ("../../informe\u202efdp.pdf", io.BytesIO(PDF), "application/x-evil"))],
    )
    assert response.status_code == 303
    assert _state(web_env) == "submitted"
    with Session(web_env.engine) as session:
        files = session.exec(select(ArchiveFile)).all()
        assert len(files) == 1
        f = files[0]
        assert (f.channel, f.media_type, f.size, f.party_code, f.commitment_id) == (
            "web",
            "application/pdf",
            len(PDF),
            "HN",
            "matrix",
        )
        assert f.original_name == "informefdp.pdf"
        stored = web_env.tmp_path / "archive" / f.sha256[:2] / f.sha256[2:4] / f.sha256
        assert stored.read_bytes() == PDF
        inbound = session.exec(select(InboundMessage)).one()
        assert (inbound.intent, inbound.match_method, inbound.triage) == ("confirmation", "web", "none")
        ack = session.exec(select(Notification).where(Notification.kind == "acknowledgement")).one()
        assert ack.recipient == "ana@hn.example.org"
    event = [e for e in _events(web_env) if e.action == "submitted"][-1]
    assert event.actor == "ana@hn.example.org"
    assert event.details["channel"] == "web"
    page = client.get(response.headers["location"])
    assert "hemos registrado su entrega" in page.text
    assert "informefdp.pdf" in page.text
    assert "<script>" not in page.text


def test_more_time_and_question_wait_in_triage(web_env: WebEnv) -> None:
    client = web_env.client()
    path = web_env.path()
    csrf = csrf_of(client.get(path).text)
    bad = client.post(path, data={"csrf": csrf, "action": "more_time", "until": "2026-08-01"})
    assert bad.status_code == 400
    ok = client.post(path, data={"csrf": csrf, "action": "more_time", "until": "2026-09-15", "note": "vacaciones"})
    assert ok.status_code == 303
    question = client.post(path, data={"csrf": csrf, "action": "question", "note": "¿Qué formato?"})
    assert question.status_code == 303
    with Session(web_env.engine) as session:
        a = session.get(Assignment, web_env.assignment_id)
        assert a is not None
        assert a.state == "pending"
        assert a.extension_requested_to is not None
        assert a.extension_requested_to.isoformat() == "2026-09-15"
        open_ = session.exec(select(InboundMessage).where(InboundMessage.triage == "open")).all()
        assert sorted(m.intent for m in open_) == ["extension", "question"]
        assert len(session.exec(select(InboundMatch)).all()) == 2


def test_post_without_or_with_a_wrong_csrf_token_is_refused(web_env: WebEnv) -> None:
    client = web_env.client()
    path = web_env.path()
    assert client.post(path, data={"action": "sent"}).status_code == 403
    other_csrf = csrf_of(
        client.get(web_env.path(assignment_id=web_env.other_assignment_id, contact_id=web_env.other_contact_id)).text
    )
    assert client.post(path, data={"csrf": other_csrf, "action": "sent"}).status_code == 403
    assert _state(web_env) == "pending"


def test_tampered_expired_and_revoked_links(web_env: WebEnv) -> None:
    client = web_env.client()
    path = web_env.path()
    token = path.rsplit("/", 1)[1]
    tampered = path[:-5] + ("AAAAA" if not path.endswith("AAAAA") else "BBBBB")
    page = client.get(tampered, headers={"accept-language": "es-HN,es;q=0.9"})
    assert page.status_code == 400
    assert "no es válido" in page.text
    assert client.post(tampered, data={"action": "sent"}).status_code == 400
    # A token for another contact's item, re-signed for ours: the contact is not the owner's.
    foreign = web_env.path(assignment_id=web_env.assignment_id, contact_id=web_env.other_contact_id)
    assert client.get(foreign).status_code == 410
    web_env.clock.advance(timedelta(days=120))
    expired = client.get(path)
    assert expired.status_code == 410
    assert "ha caducado" in expired.text  # the contact's language, though the link is dead
    assert len(token) == 44
    assert _state(web_env) == "pending"


def _big_upload(csrf: str, chunks: int, counter: dict[str, int]) -> Iterator[bytes]:
    yield b'--XyZ\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n' + csrf.encode() + b"\r\n"
    yield b'--XyZ\r\nContent-Disposition: form-data; name="action"\r\n\r\nsent\r\n'
    yield b'--XyZ\r\nContent-Disposition: form-data; name="files"; filename="big.pdf"\r\n\r\n%PDF-'
    for _ in range(chunks):
        counter["n"] += 1
        yield b"x" * 8192
    yield b"\r\n--XyZ--\r\n"


async def test_upload_over_the_limit_stops_reading_the_body(web_env: WebEnv) -> None:
    """Driven at the ASGI level, where we can count what the app pulled: it stops right after the limit."""
    app = create_app(web_env.settings, web_env.engine, web_env.clock, SECRET)
    path = web_env.path()
    csrf = sign(SECRET, "link-csrf", path.rsplit("/", 1)[1])
    limit = web_env.settings.web.upload_max_bytes
    offered = limit * 40 // 8192
    counter = {"n": 0}
    parts = _big_upload(csrf, offered, counter)

    async def receive() -> dict[str, object]:
        chunk = next(parts, None)
        return {"type": "http.request", "body": chunk or b"", "more_body": chunk is not None}

    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"content-type", b"multipart/form-data; boundary=XyZ")],
        "client": ("127.0.0.1", 40000), "server": ("testserver", 80),
    }  # fmt: skip
    await app(scope, receive, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 413
    assert counter["n"] <= limit // 8192 + 2
    assert _state(web_env) == "pending"
    assert [p for p in (web_env.tmp_path / "archive").rglob("*") if p.is_file()] == []


def test_upload_over_the_limit_is_refused(web_env: WebEnv) -> None:
    client = web_env.client()
    path = web_env.path()
    csrf = csrf_of(client.get(path).text)
    limit = web_env.settings.web.upload_max_bytes
    body = b"".join(_big_upload(csrf, limit // 8192 + 4, {"n": 0}))
    response = client.post(path, content=body, headers={"content-type": "multipart/form-data; boundary=XyZ"})
    assert response.status_code == 413
    assert "demasiado grande" in response.text
    assert _state(web_env) == "pending"
    declared = client.post(
        path,
        content=b"x",
        headers={"content-type": "multipart/form-data; boundary=XyZ", "content-length": str(limit * 100)},
    )
    assert declared.status_code == 413


def test_files_of_a_refused_kind_are_not_kept(web_env: WebEnv) -> None:
    client = web_env.client()
    path = web_env.path()
    csrf = csrf_of(client.get(path).text)
    response = client.post(
        path,
        data={"csrf": csrf, "action": "sent"},
        files=[("files", ("report.pdf", io.BytesIO(b"MZ\x90\x00 not a pdf"), "application/pdf"))],
    )
    assert response.status_code == 415
    assert _state(web_env) == "pending"
    assert [p for p in (web_env.tmp_path / "archive").rglob("*") if p.is_file()] == []


def test_requests_are_rate_limited_per_token(web_env: WebEnv) -> None:
    client = web_env.client()
    path = web_env.path()
    codes = [client.get(path).status_code for _ in range(web_env.settings.web.requests_per_minute + 1)]
    assert codes[-1] == 429
    web_env.clock.advance(timedelta(minutes=2))
    assert client.get(path).status_code == 200


def test_secret_is_the_signing_key(web_env: WebEnv) -> None:
    assert web_env.settings.signing_secret.get_secret_value().encode() == SECRET
