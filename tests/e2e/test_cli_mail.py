"""The mail commands end to end on the demo data: tick to the Maildir, preview, digest, calendar."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import mailbox
from pathlib import Path

from icalendar import Calendar

from tests.e2e.test_cli import assert_one_line_error, run

NOW = "2026-11-30T16:00:00Z"


def demo(tmp_path: Path) -> dict[str, object]:
    assert run(tmp_path, "demo", "--today", "2026-11-30", "--now", "2026-11-30").returncode == 0
    matrix: dict[str, object] = json.loads(run(tmp_path, "status", "--format", "json", "--now", NOW).stdout)
    return matrix


def test_tick_dry_run_then_real_tick_then_nothing_twice(tmp_path: Path) -> None:
    demo(tmp_path)
    dry = run(tmp_path, "tick", "--now", NOW, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    would = [line for line in dry.stdout.splitlines() if line.startswith("would send: ")]
    assert would
    assert not (tmp_path / "var" / "maildir").exists()  # dry run wrote nothing

    real = run(tmp_path, "tick", "--now", NOW)
    assert real.returncode == 0, real.stderr
    box = mailbox.Maildir(tmp_path / "var" / "maildir", create=False)
    sent = len(box)
    assert sent > 0
    assert "0 failed" in real.stdout
    # The dry run named exactly the emails the tick sent: same count, same recipients, each printed once.
    assert len(would) == sent, dry.stdout
    sent_lines = [line for line in real.stdout.splitlines() if line.startswith("sent: ")]
    assert len(sent_lines) == sent
    assert "sent reminder" not in real.stderr and "sent overdue" not in real.stderr
    first = {line.split(" to ", 1)[1].split(" ")[0].rstrip(":,") for line in would}
    assert first == {line.split(" to ", 1)[1].split(" ")[0].rstrip(":,") for line in sent_lines}
    assert all(" #" in line for line in would)  # the items each email lists
    for key in box.iterkeys():
        msg = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
        assert msg["Auto-Submitted"] == "auto-generated"
        assert msg["Reply-To"].addresses[0].username.startswith("ts+")
        assert "[RCM-" in msg["Subject"]
        types = [part.get_content_type() for part in msg.walk()]
        assert "text/plain" in types and "text/html" in types and "text/calendar" in types
    recipients = [email.message_from_bytes(box.get_bytes(k))["To"] for k in box.iterkeys()]
    assert len(recipients) == len(set(recipients)), "one email per contact per day"

    again = run(tmp_path, "tick", "--now", "2026-11-30T16:30:00Z")
    assert again.returncode == 0
    assert len(mailbox.Maildir(tmp_path / "var" / "maildir", create=False)) == sent


PRIMARY_HN = "ana.lopez@migracion.gob.hn.example"
ALTERNATE_HN = "cmejia@sre.gob.hn.example"


def test_preview_in_both_languages(tmp_path: Path) -> None:
    matrix = demo(tmp_path)
    rows = matrix["rows"]
    assert isinstance(rows, list)
    cell = next(c for r in rows for code, c in r["cells"].items() if code == "HN" and c["code"] == "overdue")
    aid = str(cell["assignment_id"])
    es = run(tmp_path, "preview", "overdue", "--assignment", aid, "--now", NOW)
    assert es.returncode == 0, es.stderr
    assert "Subject:" in es.stdout and "Estimad" in es.stdout
    en = run(tmp_path, "preview", "overdue", "--assignment", aid, "--language", "en", "--now", NOW)
    assert "Dear" in en.stdout
    eml = tmp_path / "preview.eml"
    assert run(tmp_path, "preview", "escalation", "--assignment", aid, "--out", str(eml), "--now", NOW).returncode == 0
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert msg["Content-Language"] == "es"
    # The primary focal point by default, and the escalation's copies shown: the alternate and the secretariat.
    assert msg["To"].addresses[0].addr_spec == PRIMARY_HN
    assert ALTERNATE_HN in str(msg["Cc"]) and "ts@" in str(msg["Cc"])
    html = tmp_path / "preview.html"
    assert run(tmp_path, "preview", "reminder", "--assignment", aid, "--out", str(html), "--now", NOW).returncode == 0
    assert html.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    round_ = run(tmp_path, "preview", "meeting_round", "--now", NOW)
    assert round_.returncode == 0, round_.stderr
    assert "status-" in round_.stdout  # the CSV matrix attached for the secretariat
    assert_one_line_error(run(tmp_path, "preview", "reminder", "--now", NOW), "needs --assignment", 2)
    assert_one_line_error(run(tmp_path, "preview", "reminder", "--assignment", "999999"), "no assignment 999999")
    assert_one_line_error(
        run(tmp_path, "preview", "reminder", "--assignment", aid, "--out", "x.pdf"), ".eml or .html", 2
    )


def test_digest_preview_and_send_once_a_week(tmp_path: Path) -> None:
    demo(tmp_path)
    preview = run(tmp_path, "digest", "--now", NOW)
    assert preview.returncode == 0, preview.stderr
    assert "Subject:" in preview.stdout and "overdue" in preview.stdout.lower()
    assert "BY COMMITMENT" in preview.stdout and "The attached file digest-" in preview.stdout
    items = tmp_path / "items.csv"
    written = run(tmp_path, "digest", "--now", NOW, "--csv", str(items))
    assert written.returncode == 0, written.stderr
    listed = list(csv.reader(io.StringIO(items.read_text(encoding="utf-8-sig"))))
    assert listed[0][:3] == ["reference", "owner", "owner_name"] and len(listed) > 1
    assert written.stdout.rstrip().endswith(f"{len(listed) - 1} items written to {items}")
    assert_one_line_error(
        run(tmp_path, "digest", "--now", NOW, "--csv", str(tmp_path / "no" / "x.csv")), "cannot write"
    )
    sent = run(tmp_path, "digest", "--send", "--now", NOW)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("digest to ts@rcm.example.org")
    again = run(tmp_path, "digest", "--send", "--now", "2026-12-02T16:00:00Z")
    assert "no digest sent" in again.stdout
    box = mailbox.Maildir(tmp_path / "var" / "maildir", create=False)
    digests = [
        k for k in box.iterkeys() if email.message_from_bytes(box.get_bytes(k))["To"].endswith("<ts@rcm.example.org>")
    ]
    assert len(digests) == 1
    message = email.message_from_bytes(box.get_bytes(digests[0]), policy=email.policy.default)
    [attached] = list(message.iter_attachments())
    assert attached.get_filename().startswith("digest-") and attached.get_content_type() == "text/csv"
    assert list(csv.reader(io.StringIO(attached.get_payload(decode=True).decode("utf-8-sig")))) == listed


def test_calendar_feed(tmp_path: Path) -> None:
    demo(tmp_path)
    out = tmp_path / "hn.ics"
    result = run(tmp_path, "calendar", "--country", "HN", "--out", str(out), "--now", NOW)
    assert result.returncode == 0, result.stderr
    cal = Calendar.from_ical(out.read_bytes())
    summaries = [str(e.get("summary")) for e in cal.walk("VEVENT")]
    assert summaries and any("[RCM-" in s for s in summaries)
    assert_one_line_error(run(tmp_path, "calendar", "--country", "ZZ"), "no country or organisation 'ZZ'")


def test_log_lines_follow_the_injected_clock(tmp_path: Path) -> None:
    demo(tmp_path)
    bad = run(tmp_path, "--debug", "tick", "--now", NOW)
    stamped = [line for line in bad.stderr.splitlines() if line[:4].isdigit()]
    assert stamped, bad.stderr
    assert all(line.startswith("2026-11-30T") for line in stamped), stamped[:3]
