"""The secretariat's pages through the ASGI test client: login, matrix, actions, triage, outbox, archive."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import timedelta

from sqlmodel import Session, col, select

from followup.store.matrix import status_matrix
from followup.store.models import Assignment, Event
from followup.web.admin_pages import filtered_rows
from followup.web.sessions import COOKIE
from tests.web_app import PASSWORD, WebEnv, csrf_of, login

PDF = b"%PDF-1.4\nsecretariat test\n%%EOF\n"


def test_pages_need_a_login(web_env: WebEnv) -> None:
    client = web_env.client()
    for path in ("/matrix", "/triage", "/outbox", "/archive", f"/assignments/{web_env.assignment_id}", "/archive.zip"):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")


def test_session_cookie_flags_and_audit(web_env: WebEnv) -> None:
    client = web_env.client()
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "csrf": csrf_of(page.text),
            "email": "officer@rcm.example.org",
            "password": PASSWORD,
            "next": "//evil.example/",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/matrix"
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith(COOKIE))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http in the test; https sets it (below)
    https = web_env.client()
    https.base_url = https.base_url.copy_with(scheme="https")  # type: ignore[misc]
    page = https.get("/login")
    response = https.post(
        "/login", data={"csrf": csrf_of(page.text), "email": "officer@rcm.example.org", "password": PASSWORD}
    )
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith(COOKIE))
    assert "Secure" in cookie
    with Session(web_env.engine) as session:
        actions = [e.action for e in session.exec(select(Event).where(Event.entity == "web_user")).all()]
    assert actions.count("login") == 2


def test_login_needs_csrf_and_brute_force_is_slowed(web_env: WebEnv) -> None:
    client = web_env.client()
    client.get("/login")
    assert client.post("/login", data={"email": "officer@rcm.example.org", "password": PASSWORD}).status_code == 403
    codes = []
    for _ in range(web_env.settings.web.login_attempts + 1):
        csrf = csrf_of(client.get("/login").text)
        codes.append(
            client.post(
                "/login", data={"csrf": csrf, "email": "officer@rcm.example.org", "password": "wrong password"}
            ).status_code
        )
    assert codes[:-1] == [401] * web_env.settings.web.login_attempts
    assert codes[-1] == 429
    csrf = csrf_of(client.get("/login").text)
    refused = client.post("/login", data={"csrf": csrf, "email": "officer@rcm.example.org", "password": PASSWORD})
    assert refused.status_code == 429  # even the right password waits
    web_env.clock.advance(timedelta(minutes=16))
    csrf = csrf_of(client.get("/login").text)
    assert (
        client.post("/login", data={"csrf": csrf, "email": "officer@rcm.example.org", "password": PASSWORD}).status_code
        == 303
    )


def test_matrix_filters_and_csv(web_env: WebEnv) -> None:
    client = web_env.client()
    login(client)
    page = client.get("/matrix")
    assert page.status_code == 200
    assert "due in 17 days" in page.text
    assert "Integration matrix &lt;b&gt;bold&lt;/b&gt;" in page.text
    assert "/calendar/HN/" in page.text
    only_hn = client.get("/matrix?owner=HN")
    assert '<th scope="col" title="Honduras">HN</th>' in only_hn.text
    assert 'title="El Salvador"' not in only_hn.text
    overdue = client.get("/matrix?overdue=1")
    assert "Nothing matches." in overdue.text
    csv_text = client.get("/matrix?format=csv").text
    assert csv_text.splitlines()[0] == "commitment_id,title,due_rule,HN,SV"
    assert "due in 17 days" in csv_text
    today = web_env.clock.now().date()
    for query, filters in (("", {}), ("&owner=SV", {"owner": "SV"}), ("&state=due_soon", {"state": "due_soon"})):
        # Streamed from the database, the same lines as the whole matrix filtered and sorted in memory.
        matrix = status_matrix(web_env.engine, today, country=filters.get("owner"))
        rows = filtered_rows(matrix, commitment="", state=filters.get("state", ""), overdue=False)
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["commitment_id", "title", "due_rule", *[c for c, _ in matrix.owners]])
        for row in rows:
            writer.writerow([row.commitment_id, row.title, row.due_rule,
                             *[row.cells[c].label if c in row.cells else "" for c, _ in matrix.owners]])  # fmt: skip
        assert client.get(f"/matrix?format=csv{query}").text == buf.getvalue(), query
    assert client.get("/matrix?format=csv&state=confirmed").text.splitlines()[1:] == []


def test_actions_through_the_same_services_and_viewer_cannot_act(web_env: WebEnv) -> None:
    viewer = web_env.client()
    login(viewer, "viewer@rcm.example.org")
    page = viewer.get(f"/assignments/{web_env.assignment_id}")
    assert page.status_code == 200
    assert "Confirm</button>" not in page.text
    refused = viewer.post(f"/assignments/{web_env.assignment_id}", data={"csrf": csrf_of(page.text), "action": "waive"})
    assert refused.status_code == 403
    officer = web_env.client()
    login(officer)
    path = f"/assignments/{web_env.assignment_id}"
    csrf = csrf_of(officer.get(path).text)
    assert officer.post(path, data={"action": "confirm"}).status_code == 403  # no CSRF
    assert (
        officer.post(path, data={"csrf": csrf, "action": "extend", "to": "2026-09-30", "note": "by phone"}).status_code
        == 303
    )
    assert officer.post(path, data={"csrf": csrf, "action": "confirm", "note": "<i>ok</i>"}).status_code == 303
    again = officer.post(path, data={"csrf": csrf, "action": "confirm"})
    assert again.status_code == 409
    assert "already confirmed" in again.text
    assert officer.post(path, data={"csrf": csrf, "action": "reopen"}).status_code == 303
    with Session(web_env.engine) as session:
        a = session.get(Assignment, web_env.assignment_id)
        assert a is not None
        assert (a.state, a.due_date.isoformat()) == ("extended", "2026-09-30")
        events = session.exec(
            select(Event).where(Event.assignment_id == web_env.assignment_id).order_by(col(Event.id))
        ).all()
        assert [e.action for e in events] == ["extended", "confirmed", "reopened"]
        assert {e.actor for e in events} == {"officer@rcm.example.org"}
        assert all(e.details["channel"] == "web" for e in events)
    history = officer.get(path).text
    assert "&lt;i&gt;ok&lt;/i&gt;" in history


def test_triage_accepts_an_extension_asked_through_the_link(web_env: WebEnv) -> None:
    fp = web_env.client()
    link = web_env.path()
    fp.post(link, data={"csrf": csrf_of(fp.get(link).text), "action": "more_time", "until": "2026-09-10"})
    officer = web_env.client()
    login(officer)
    page = officer.get("/triage")
    assert "asks until <strong>2026-09-10</strong>" in page.text
    message_id = int(page.text.split('action="/triage/')[1].split('"')[0])
    response = officer.post(f"/triage/{message_id}", data={"csrf": csrf_of(page.text), "action": "accept"})
    assert response.status_code == 303
    with Session(web_env.engine) as session:
        a = session.get(Assignment, web_env.assignment_id)
        assert a is not None
        assert (a.state, a.due_date.isoformat()) == ("extended", "2026-09-10")
    assert "Nothing waits in triage." in officer.get("/triage").text


def test_archive_zip_download_and_file_headers(web_env: WebEnv) -> None:
    fp = web_env.client()
    link = web_env.path()
    fp.post(
        link,
        data={"csrf": csrf_of(fp.get(link).text), "action": "sent"},
        files=[("files", ("informe <b>.pdf", io.BytesIO(PDF), "application/pdf"))],
    )
    officer = web_env.client()
    login(officer)
    page = officer.get(f"/assignments/{web_env.assignment_id}")
    assert "informe &lt;b&gt;.pdf" in page.text
    file_id = int(page.text.split('href="/files/')[1].split('"')[0])
    download = officer.get(f"/files/{file_id}")
    assert download.content == PDF
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-type"] == "application/octet-stream"
    export = officer.get("/archive.zip?commitment=matrix")
    assert export.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(export.content)) as zf:
        names = zf.namelist()
        assert "manifest.csv" in names
        pdfs = [n for n in names if n.endswith(".pdf")]
        assert len(pdfs) == 1
        assert zf.read(pdfs[0]) == PDF
        assert "HN" in zf.read("manifest.csv").decode()


def test_outbox_previews_an_email_and_calendar_feed(web_env: WebEnv) -> None:
    fp = web_env.client()
    link = web_env.path()
    fp.post(link, data={"csrf": csrf_of(fp.get(link).text), "action": "sent", "note": "listo"})
    officer = web_env.client()
    login(officer)
    outbox = officer.get("/outbox")
    assert "acknowledgement" in outbox.text
    preview_url = "/outbox/" + outbox.text.split('href="/outbox/')[1].split('"')[0]
    preview = officer.get(preview_url)
    assert preview.status_code == 200
    assert "Subject:" in preview.text
    assert "Matriz de integración" in preview.text
    matrix = officer.get("/matrix").text
    url = "/calendar/HN/" + matrix.split("/calendar/HN/")[1].split('"')[0]
    feed = web_env.client().get(url)
    assert feed.status_code == 200
    assert feed.text.startswith("BEGIN:VCALENDAR")
    assert web_env.client().get("/calendar/HN/wrong.ics").status_code == 404


def test_logout_ends_the_session(web_env: WebEnv) -> None:
    client = web_env.client()
    login(client)
    csrf = csrf_of(client.get("/matrix").text)
    assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    assert client.get("/matrix").status_code == 303
