"""The importer against the real plan of action, scored against a list read by hand."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import yaml

from followup.planimport import ImportResult, import_plan
from followup.planimport.emit import commitment_mapping, meeting_mapping
from followup.planimport.layout import plan_items
from followup.planimport.reading import read_plan
from tests.conftest import FIXTURES

SEED = FIXTURES / "seed" / "rcm_plan_of_action_2006-11.txt"
EXPECTED = FIXTURES / "plan_expected.yaml"
TODAY = date(2006, 11, 15)


def expected() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXPECTED.read_text(encoding="utf-8"))
    return data


def _matches(found: dict[str, Any], want: dict[str, Any]) -> bool:
    return (
        found["source"]["subject"] == want["subject"]
        and found["source"]["objective"] == want["objective"]
        and want["quote"] in found["source"]["text"]
        and found["owners"] == want["owners"]
        and found["due"] == want["due"]
        and found.get("status", "") == want["status"]
    )


def score(result: ImportResult, wanted: list[dict[str, Any]]) -> tuple[float, float, list[str], list[str]]:
    """Precision, recall, and what was found wrongly / missed (for the failure message)."""
    found = [commitment_mapping(p.record) for p in result.commitments]
    right = [f for f in found if any(_matches(f, w) for w in wanted)]
    hit = [w for w in wanted if any(_matches(f, w) for f in found)]
    precision = len(right) / len(found) if found else 0.0
    recall = len(hit) / len(wanted) if wanted else 1.0
    extra = [f"{f['id']}: {f['owners']} {f['due']} <- {f['source']['text']}" for f in found if f not in right]
    missed = [f"{w['quote']} ({w['owners']} {w['due']})" for w in wanted if w not in hit]
    return precision, recall, extra, missed


@pytest.fixture(scope="module")
def seed_result() -> ImportResult:
    return import_plan(SEED, today=TODAY, lead_days=expected()["lead_days"])


def test_seed_precision_and_recall_are_one(seed_result: ImportResult) -> None:
    wanted = expected()["obligations"]
    precision, recall, extra, missed = score(seed_result, wanted)
    print(
        f"\nseed plan: {len(seed_result.commitments)} commitments found, {len(wanted)} expected; "
        f"precision {precision:.2f}, recall {recall:.2f}"
    )
    assert not extra, "found but not expected:\n" + "\n".join(extra)
    assert not missed, "expected but not found:\n" + "\n".join(missed)
    assert precision == 1.0
    assert recall == 1.0


def test_seed_creates_the_rcgm_meeting_with_a_stable_id(seed_result: ImportResult) -> None:
    meetings = [meeting_mapping(m) for m in seed_result.meetings]
    want = expected()["meetings"]
    assert [{k: m[k] for k in ("id", "kind", "start", "end", "place")} for m in meetings] == want


def test_no_record_of_a_past_event_becomes_a_commitment(seed_result: ImportResult) -> None:
    text = " ".join(item.text for item in plan_items(read_plan(SEED)))
    sources = [p.record.source.text for p in seed_result.commitments]
    for quote in expected()["not_commitments"]:
        assert quote in text, f"fixture quote not in the seed: {quote}"
        assert not any(quote in source for source in sources), quote


def test_unstated_owners_are_flagged_for_review(seed_result: ImportResult) -> None:
    flagged = {p.record.source.text for p in seed_result.commitments if any("owner not stated" in n for n in p.notes)}
    unstated = [w["quote"] for w in expected()["obligations"] if w.get("owner_stated") is False]
    assert len(flagged) == len(unstated)
    for quote in unstated:
        assert any(quote in source for source in flagged), quote


def test_undated_promises_are_reported_not_imported(seed_result: ImportResult) -> None:
    undated = {u.text: u for u in seed_result.unscheduled}
    calendar = next(u for text, u in undated.items() if "WILL PREPARE A CALENDAR OF INTERNAL RCM MEETINGS" in text)
    assert calendar.owner_label == "TS"
    assert calendar.reason == "no date"
    xi = next(u for text, u in undated.items() if "TO BE SHARED AT THE XI RCM" in text)
    assert "XI RCM" in xi.reason
    assert "?other interested member countries" in xi.owner_label


def test_seed_ids_are_unique_and_loadable(seed_result: ImportResult) -> None:
    ids = [p.record.id for p in seed_result.commitments]
    assert len(ids) == len(set(ids))
    assert "lbdm-3-complete-submit-matrix-ts" in ids
