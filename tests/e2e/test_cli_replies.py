"""Reply commands as a user runs them: ingest files, list, triage."""

from __future__ import annotations

import email
import email.policy
import json
import mailbox
from email.message import EmailMessage
from pathlib import Path

from tests.e2e.test_cli import assert_one_line_error, run

NOW = "2026-11-30T16:00:00Z"


def sent_messages(tmp_path: Path) -> list[EmailMessage]:
    assert run(tmp_path, "demo", "--today", "2026-11-30", "--now", "2026-11-30").returncode == 0
    assert run(tmp_path, "tick", "--now", NOW).returncode == 0
    box = mailbox.Maildir(tmp_path / "var" / "maildir", create=False)
    return [
        email.message_from_bytes(box.get_bytes(k), policy=email.policy.default)  # type: ignore[misc]
        for k in box.iterkeys()
    ]


def reply(original: EmailMessage, body: str, sender: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender or str(original["To"])
    msg["To"] = str(original["Reply-To"])
    msg["Subject"] = "RE: " + str(original["Subject"])
    msg["In-Reply-To"] = str(original["Message-ID"])
    msg["Message-ID"] = f"<r{abs(hash(body)) % 10**9}@{(sender or 'x@example.org').split('@')[-1].rstrip('>')}>"
    msg.set_content(body)
    return msg


def test_ingest_files_list_and_triage(tmp_path: Path) -> None:
    sent = sent_messages(tmp_path)
    hn = next(m for m in sent if str(m["Content-Language"]) == "es")
    confirm = tmp_path / "confirm.eml"
    tag = str(hn["Subject"]).split("]")[0] + "]"  # the first item the email lists, e.g. [RCM-18]
    confirm.write_bytes(reply(hn, f"Buenos días, adjunto la documentación solicitada para {tag}. Saludos").as_bytes())
    stranger = reply(hn, "Adjunto el documento.", sender="Someone <someone@elsewhere.example>")
    box = mailbox.mbox(tmp_path / "replies.mbox")
    box.add(stranger)
    box.close()

    first = run(tmp_path, "ingest", str(confirm), str(tmp_path / "replies.mbox"), "--now", NOW)
    assert first.returncode == 0, first.stderr
    assert "2 stored, 0 already known" in first.stdout
    again = run(tmp_path, "ingest", str(confirm), "--now", NOW)
    assert "0 stored, 1 already known" in again.stdout

    listed = json.loads(run(tmp_path, "replies", "--format", "json").stdout)
    by_sender = {r["sender"]: r for r in listed}
    mine = by_sender[hn["To"].addresses[0].addr_spec]
    assert mine["intent"] == "confirmation" and mine["matched_by"] == "token"
    assert by_sender["someone@elsewhere.example"]["verified"] == "no"

    triage = json.loads(run(tmp_path, "replies", "--unmatched", "--format", "json").stdout)
    assert [r["sender"] for r in triage] == ["someone@elsewhere.example"]
    stranger_id = str(triage[0]["id"])
    shown = run(tmp_path, "replies", "show", stranger_id)
    assert shown.returncode == 0 and '"verified": false' in shown.stdout
    as_received = run(tmp_path, "replies", "show", stranger_id, "--raw")
    assert as_received.returncode == 0 and "Adjunto el documento." in as_received.stdout
    assert "From: Someone <someone@elsewhere.example>" in as_received.stdout
    assert run(tmp_path, "replies", "dismiss", stranger_id, "--note", "not ours").returncode == 0
    assert json.loads(run(tmp_path, "replies", "--unmatched", "--format", "json").stdout) == []
    assert_one_line_error(run(tmp_path, "replies", "dismiss", stranger_id), "already dismissed")
    assert_one_line_error(run(tmp_path, "replies", "assign", "999", "1"), "no inbound message 999")

    aid = tag.strip("[]").split("-")[1]
    matched = json.loads(run(tmp_path, "replies", "--assignment", aid, "--format", "json").stdout)
    # Both replies answer that email; the stranger's is logged against it too, unverified.
    assert {(r["sender"], r["verified"]) for r in matched} == {
        (mine["sender"], "yes"),
        ("someone@elsewhere.example", "no"),
    }
    # The reply moved the item to submitted: recording it again is refused.
    assert_one_line_error(run(tmp_path, "submitted", aid), f"assignment {aid} is already submitted")


def test_ingest_maildir_folder_and_unreadable_path(tmp_path: Path) -> None:
    sent = sent_messages(tmp_path)
    folder = mailbox.Maildir(tmp_path / "incoming", create=True)
    folder.add(reply(sent[0], "We have sent the report today."))
    result = run(tmp_path, "ingest", str(tmp_path / "incoming"), "--now", NOW)
    assert result.returncode == 0, result.stderr
    assert "1 stored" in result.stdout
    missing = run(tmp_path, "ingest", str(tmp_path / "nope.eml"))
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert_one_line_error(run(tmp_path, "inbox", "poll"), "no IMAP host configured", 2)


def test_extension_requests_granted_and_refused_from_the_command_line(tmp_path: Path) -> None:
    """The same services as the web triage page: `replies grant` and `replies refuse`."""
    sent = sent_messages(tmp_path)
    [first, second] = [m for m in sent if str(m["Content-Language"]) == "es"][:2]
    for original, body in (
        (first, "Estimados, solicitamos una prórroga hasta el 15 de enero de 2027."),
        (second, "Estimados, necesitamos una prórroga hasta el 20 de enero de 2027."),
    ):
        path = tmp_path / f"ask-{abs(hash(body))}.eml"
        path.write_bytes(reply(original, body).as_bytes())
        assert run(tmp_path, "ingest", str(path), "--now", NOW).returncode == 0
    asks = json.loads(run(tmp_path, "replies", "--unmatched", "--format", "json").stdout)
    ids = sorted(str(r["id"]) for r in asks if r["intent"] == "extension")
    assert len(ids) == 2, asks
    grant_id, refuse_id = ids
    granted = run(tmp_path, "replies", "grant", grant_id, "--note", "agreed by phone", "--now", NOW)
    assert granted.returncode == 0, granted.stderr
    assert "extension granted for #" in granted.stdout
    refused = run(tmp_path, "replies", "refuse", refuse_id, "--now", NOW)
    assert refused.returncode == 0, refused.stderr
    assert "extension refused for #" in refused.stdout
    assert_one_line_error(run(tmp_path, "replies", "refuse", refuse_id), "already decided")
    assert_one_line_error(run(tmp_path, "replies", "grant", "999"), "no inbound message 999")
    remaining = json.loads(run(tmp_path, "replies", "--unmatched", "--format", "json").stdout)
    assert {str(r["id"]) for r in remaining}.isdisjoint({grant_id, refuse_id})
