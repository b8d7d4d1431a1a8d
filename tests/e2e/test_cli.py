"""The CLI as a user meets it: real processes, real SQLite files, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "followup", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], fragment: str, code: int = 1) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines, "no error message"
    assert all(line.startswith("followup: error: ") for line in lines), result.stderr
    assert "Traceback" not in result.stderr
    assert fragment in result.stderr


def test_init_load_status_and_state_changes(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    assert (tmp_path / "var" / "followup.db").is_file()
    assert (tmp_path / "var" / "signing.key").stat().st_mode & 0o077 == 0
    loaded = run(tmp_path, "load", str(FIXTURES / "small.yaml"), "--now", "2026-11-28")
    assert loaded.returncode == 0, loaded.stderr
    assert "commitments: 3 new" in loaded.stdout
    out = run(tmp_path, "status", "--format", "json", "--now", "2026-11-28")
    assert out.returncode == 0, out.stderr
    matrix = json.loads(out.stdout)
    assert [o["code"] for o in matrix["owners"]] == ["HN", "SV", "IOM"]
    cells = {(r["commitment_id"], code): c for r in matrix["rows"] for code, c in r["cells"].items()}
    hn = cells[("matrix", "HN")]
    assert hn["label"] == "due in 17 days" and hn["state"] == "pending"
    assert cells[("iom-report", "IOM")]["code"] == "overdue"

    aid = str(hn["assignment_id"])
    assert run(tmp_path, "confirm", aid, "--note", "received by email").returncode == 0
    sv = str(cells[("matrix", "SV")]["assignment_id"])
    assert run(tmp_path, "extend", sv, "--to", "2027-01-31").returncode == 0
    waive = run(tmp_path, "waive", str(cells[("iom-report", "IOM")]["assignment_id"]))
    assert waive.returncode == 0
    after = json.loads(run(tmp_path, "status", "--format", "json", "--now", "2026-11-28").stdout)
    cells = {(r["commitment_id"], code): c for r in after["rows"] for code, c in r["cells"].items()}
    assert cells[("matrix", "HN")]["code"] == "confirmed"
    assert cells[("matrix", "SV")]["label"] == "extended to 2027-01-31"
    assert cells[("iom-report", "IOM")]["code"] == "waived"
    csv_out = run(tmp_path, "status", "--format", "csv", "--now", "2026-11-28").stdout
    assert csv_out.splitlines()[0] == "commitment,title,due_rule,HN,SV,IOM"
    for listing in ("commitments", "contacts", "meetings"):
        result = run(tmp_path, listing, "--format", "json")
        assert result.returncode == 0 and json.loads(result.stdout), listing
    assert run(tmp_path, "check").returncode == 0


def test_bad_data_file_one_line_per_problem_and_database_unchanged(tmp_path: Path) -> None:
    run(tmp_path, "init")
    run(tmp_path, "load", str(FIXTURES / "small.yaml"))
    before = run(tmp_path, "status", "--format", "json", "--now", "2026-11-28").stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "countries:\n  - code: QQ\n    name: Q\n    timezone: UTC\n    language: es\n"
        "contacts:\n  - id: x\n    party: HN\n    name: X\n    email: nope\n"
        "meetings:\n  - id: m\n    kind: rcgm\n    title: M\n    start: 2026-02-31\n"
    )
    result = run(tmp_path, "load", str(bad))
    assert_one_line_error(result, f"{bad}:2: unknown country code 'QQ'")
    assert f"{bad}:10: invalid email address 'nope'" in result.stderr
    assert f"{bad}:15: impossible date '2026-02-31'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 3
    syntax = tmp_path / "syntax.yaml"
    syntax.write_text("countries:\n  - code: HN\n   name: broken\n")
    assert_one_line_error(run(tmp_path, "load", str(syntax)), "YAML syntax error")
    assert run(tmp_path, "status", "--format", "json", "--now", "2026-11-28").stdout == before


@pytest.mark.parametrize(
    ("args", "fragment", "code"),
    [
        (("extend", "999", "--to", "2027-01-01"), "no assignment 999", 1),
        (("extend", "1", "--to", "someday"), "--to 'someday' is not a date", 2),
        (("status", "--now", "yesterday"), "--now 'yesterday' is not an ISO-8601", 2),
        (("status", "--format", "xml"), "Invalid value for '--format'", 2),
        (("frobnicate",), "No such command 'frobnicate'", 2),
        (("confirm", "abc"), "'abc' is not a valid integer", 2),
    ],
)
def test_errors_are_one_line(tmp_path: Path, args: tuple[str, ...], fragment: str, code: int) -> None:
    run(tmp_path, "init")
    assert_one_line_error(run(tmp_path, *args), fragment, code)


def test_uninitialised_database_and_bad_settings(tmp_path: Path) -> None:
    assert_one_line_error(run(tmp_path, "status"), "run 'followup init'")
    assert_one_line_error(run(tmp_path, "check"), "run 'followup init'")
    result = run(tmp_path, "status", env={"FOLLOWUP_SMTP__PORT": "not-a-port"})
    assert_one_line_error(result, "setting smtp.port = 'not-a-port'", 2)
    result = run(tmp_path, "status", env={"FOLLOWUP_DATABASE_URL": "nonsense://"})
    assert result.returncode != 0 and "Traceback" not in result.stderr


def test_help_mentions_environment_variables(tmp_path: Path) -> None:
    result = run(tmp_path, "status", "--help")
    assert result.returncode == 0
    assert "FOLLOWUP_NOW" in result.stdout
    assert "FOLLOWUP_CONFIG" in run(tmp_path, "--help").stdout


MEMBERS = {"BZ", "CA", "CR", "DO", "SV", "GT", "HN", "MX", "NI", "PA", "US"}


def demo_and_status(tmp_path: Path, env: dict[str, str] | None = None) -> dict[str, object]:
    loaded = run(tmp_path, "demo", "--today", "2026-11-30", "--now", "2026-11-30", env=env)
    assert loaded.returncode == 0, loaded.stderr
    out = run(tmp_path, "status", "--format", "json", "--now", "2026-11-30", env=env)
    assert out.returncode == 0, out.stderr
    matrix: dict[str, object] = json.loads(out.stdout)
    return matrix


def test_demo_then_status_shows_all_eleven_countries(tmp_path: Path) -> None:
    matrix = demo_and_status(tmp_path)
    owners = {o["code"] for o in matrix["owners"]}  # type: ignore[attr-defined]
    assert owners >= MEMBERS
    counts = matrix["counts"]
    assert counts["overdue"] and counts["due_today"] and counts["due_soon"]  # type: ignore[index]
    again = run(tmp_path, "demo", "--if-empty")
    assert again.returncode == 0 and "already has data" in again.stdout


@pytest.mark.postgres
def test_demo_then_status_on_postgresql(tmp_path: Path) -> None:
    import uuid

    import sqlalchemy as sa

    from tests.conftest import POSTGRES_URL, require_server

    require_server(bool(POSTGRES_URL), "FOLLOWUP_TEST_POSTGRES_URL is not set")
    name = f"followup_e2e_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(
        POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
        matrix = demo_and_status(tmp_path, env={"FOLLOWUP_DATABASE_URL": url})
        assert {o["code"] for o in matrix["owners"]} >= MEMBERS  # type: ignore[attr-defined]
        assert run(tmp_path, "check", env={"FOLLOWUP_DATABASE_URL": url}).returncode == 0
        assert not (tmp_path / "var" / "followup.db").exists()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
