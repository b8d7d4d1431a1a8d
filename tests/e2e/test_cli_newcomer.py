"""What a newcomer meets in a terminal: layouts that fit, bad input refused in one line, --quiet."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.e2e.test_cli import assert_one_line_error, run

TODAY = "2026-11-30"
SAMPLE_REPLY = Path(__file__).resolve().parents[2] / "config" / "demo" / "sample-reply.eml"


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo loaded around a fixed Monday, once; each test works on a copy."""
    base = tmp_path_factory.mktemp("demo")
    loaded = run(base, "demo", "--today", TODAY, "--now", TODAY)
    assert loaded.returncode == 0, loaded.stderr
    return base


@pytest.fixture
def world(demo_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "w"
    shutil.copytree(demo_dir, target)
    return target


def test_status_fits_the_terminal(world: Path) -> None:
    narrow = run(world, "status", "--now", TODAY, env={"COLUMNS": "80"})
    assert narrow.returncode == 0, narrow.stderr
    lines = narrow.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert len(lines) < 40  # one row per owner, not 1,650 lines of folded cells
    owners = json.loads(run(world, "status", "--format", "json", "--now", TODAY).stdout)["owners"]
    table = [line.split()[0] for line in lines if line.strip() and line.split()[0] in {o["code"] for o in owners}]
    assert sorted(table) == sorted(o["code"] for o in owners)
    dates = [line.split()[6] for line in lines if line.strip() and line.split()[0] in table]
    assert dates == sorted(dates), "owners sorted by their next due date"

    wide = run(world, "status", "--country", "hn", "--now", TODAY, env={"COLUMNS": "120"})
    assert wide.returncode == 0, wide.stderr
    assert "commitment" in wide.stdout and "HN" in wide.stdout and "#28" in wide.stdout  # the matrix fits: shown
    by_owner = run(world, "status", "--by", "owner", "--now", TODAY, env={"COLUMNS": "80"})
    assert by_owner.returncode == 0 and max(len(line) for line in by_owner.stdout.splitlines()) <= 80
    assert "#" in by_owner.stdout and "overdue" in by_owner.stdout


def test_replies_fit_80_columns(world: Path) -> None:
    ingested = run(world, "ingest", str(SAMPLE_REPLY), "--now", "2026-11-30T16:30Z")
    assert ingested.returncode == 0, ingested.stderr
    assert "confirmation" in ingested.stdout and "#28" in ingested.stdout
    assert "followup.ingest" not in ingested.stderr  # each message is reported once
    listing = run(world, "replies", env={"COLUMNS": "80"})
    assert listing.returncode == 0, listing.stderr
    assert max(len(line) for line in listing.stdout.splitlines()) <= 80
    for word in ("from / subject / excerpt", "understood", "ana.lopez", "confirmation", "Adjunto", "#28"):
        assert word in listing.stdout, word


def test_extend_to_a_past_date_needs_force(world: Path) -> None:
    past = run(world, "extend", "154", "--to", "2026-11-01", "--now", TODAY)
    assert_one_line_error(past, "before today (2026-11-30)", 2)
    forced = run(world, "extend", "154", "--to", "2026-11-01", "--force", "--now", TODAY)
    assert forced.returncode == 0, forced.stderr
    assert "now due 2026-11-01" in forced.stdout


def test_ingest_refuses_what_is_not_an_email(world: Path) -> None:
    folder = world / "yaml"
    folder.mkdir()
    for name in ("countries.yaml", "contacts.yaml"):
        (folder / name).write_text("countries:\n  - code: HN\n    name: Honduras\n", encoding="utf-8")
    note = world / "note.txt"
    note.write_text("Call Ana about the matrix.\nFrom the meeting notes.\n", encoding="utf-8")
    refused = run(world, "ingest", str(folder), str(note), "--now", TODAY)
    assert refused.returncode == 1
    errors = [line for line in refused.stderr.splitlines() if line.startswith("followup: error: ")]
    assert len(errors) == 3 and all("not an email" in line for line in errors), refused.stderr
    assert "0 stored" in refused.stdout
    damaged = world / "damaged.eml"
    damaged.write_bytes(b"From: x@example.org\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\xff\xfe")
    kept = run(world, "ingest", str(damaged), "--now", TODAY)
    assert kept.returncode == 0, kept.stderr
    assert "1 stored" in kept.stdout
    stored = json.loads(run(world, "replies", "--format", "json").stdout)
    assert len(stored) == 1  # only the damaged email; nothing from the YAML or the text file


@pytest.mark.parametrize(
    "args",
    [
        ("status", "--country", "XX"),
        ("contacts", "--country", "XX"),
        ("calendar", "--country", "XX"),
        ("replies", "show", "99"),
        ("replies", "--assignment", "99999"),
        ("confirm", "99999"),
    ],
)
def test_unknown_codes_and_ids_are_errors(world: Path, args: tuple[str, ...]) -> None:
    result = run(world, *args)
    assert result.returncode != 0 and result.stdout == ""
    assert_one_line_error(result, "no ", result.returncode)


def test_unknown_environment_variable_is_named(world: Path) -> None:
    result = run(world, "meetings", "--format", "json", env={"FOLLOWUP_SMTP_HOST": "mail.example.org"})
    assert result.returncode == 0
    assert "did you mean FOLLOWUP_SMTP__HOST?" in result.stderr


def test_quiet_tick_prints_only_the_summary(world: Path) -> None:
    result = run(world, "--quiet", "tick", "--now", "2026-11-30T15:00Z")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and result.stdout.startswith("tick at ")
    assert result.stderr == ""


def test_dry_run_counts_meeting_rounds_as_the_tick_sends_them(world: Path) -> None:
    """Three weeks before the RCGM the round goes out with the reminders: the dry run names every email."""
    at = "2026-12-07T15:00Z"
    dry = run(world, "tick", "--dry-run", "--now", at)
    assert dry.returncode == 0, dry.stderr
    would = [line for line in dry.stdout.splitlines() if line.startswith("would send: ")]
    assert any(line.startswith("would send: meeting_round to ") for line in would)
    real = run(world, "tick", "--now", at)
    assert real.returncode == 0, real.stderr
    assert f", {len(would)} sent," in real.stdout, (len(would), real.stdout.splitlines()[-1])
