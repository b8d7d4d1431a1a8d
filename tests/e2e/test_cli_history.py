"""``followup history``: sends, replies and state changes of one item, with who made them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli import FIXTURES, assert_one_line_error, run


def test_history_lists_sends_and_state_changes_with_their_authors(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    assert run(tmp_path, "load", str(FIXTURES / "small.yaml"), "--now", "2026-11-28").returncode == 0
    matrix = json.loads(run(tmp_path, "status", "--format", "json", "--now", "2026-11-28").stdout)
    aid = next(r for r in matrix["rows"] if r["commitment_id"] == "matrix")["cells"]["HN"]["assignment_id"]
    sent = run(tmp_path, "tick", "--now", "2026-12-01T15:00:00Z")
    assert sent.returncode == 0, sent.stderr
    assert run(tmp_path, "confirm", str(aid), "--by", "maria.ts", "--now", "2026-12-02T15:00:00Z").returncode == 0
    out = run(tmp_path, "history", "--assignment", str(aid), "--format", "json")
    assert out.returncode == 0, out.stderr
    trail = json.loads(out.stdout)
    whats = [(e["what"], e["who"]) for e in trail]
    assert ("reminder sent", "dispatch") in whats
    assert ("confirmed", "maria.ts") in whats
    assert whats.index(("reminder sent", "dispatch")) < whats.index(("confirmed", "maria.ts"))  # oldest first
    by_contact = json.loads(run(tmp_path, "history", "--contact", "hn-primary", "--format", "json").stdout)
    assert any(e["what"] == "reminder sent" and "ana@migracion.hn.example" in e["detail"] for e in by_contact)
    later = json.loads(
        run(tmp_path, "history", "--assignment", str(aid), "--since", "2026-12-02", "--format", "json").stdout
    )
    assert [e["what"] for e in later] == ["confirmed"]
    assert_one_line_error(run(tmp_path, "history"), "--assignment", code=2)
    assert_one_line_error(run(tmp_path, "history", "--contact", "nobody"), "no contact", code=1)
