from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from followup.errors import DataFileError
from followup.schedule.loading import load_paths
from followup.store.models import Assignment, Commitment, Contact, Event, Party

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)


def counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as s:
        return {
            "party": len(s.exec(select(Party)).all()),
            "contact": len(s.exec(select(Contact)).all()),
            "commitment": len(s.exec(select(Commitment)).all()),
            "assignment": len(s.exec(select(Assignment)).all()),
        }


def test_load_twice_changes_nothing(engine: Engine) -> None:
    first = load_paths(engine, [FIXTURES / "small.yaml"], now=NOW)
    assert first.created["parties"] == ["HN", "SV", "IOM"]
    assert first.assignments.created == 5  # matrix x2, input x2 (one RCGM), iom-report x1
    before = counts(engine)
    again = load_paths(engine, [FIXTURES / "small.yaml"], now=NOW)
    assert again.unchanged == {"parties": 3, "contacts": 1, "meetings": 1, "commitments": 3}
    assert not any(again.created.values()) and not any(again.updated.values())
    assert again.assignments.created == 0
    assert counts(engine) == before


def test_edit_contact_email_updates_it(engine: Engine, tmp_path: Path) -> None:
    load_paths(engine, [FIXTURES / "small.yaml"], now=NOW)
    edited = tmp_path / "small.yaml"
    edited.write_text(
        (FIXTURES / "small.yaml").read_text().replace("ana@migracion.hn.example", "ana.lopez@migracion.hn.example")
    )
    report = load_paths(engine, [edited], now=NOW)
    assert report.updated["contacts"] == ["hn-primary"]
    with Session(engine) as s:
        contact = s.exec(select(Contact).where(Contact.key == "hn-primary")).one()
        assert contact.email == "ana.lopez@migracion.hn.example"
        assert s.exec(select(Event).where(Event.action == "contact-email-changed")).first() is not None


def test_missing_items_reported_then_pruned(engine: Engine, tmp_path: Path) -> None:
    load_paths(engine, [FIXTURES / "small.yaml"], now=NOW)
    smaller = tmp_path / "smaller.yaml"
    text = (FIXTURES / "small.yaml").read_text()
    smaller.write_text(text.split("  - id: iom-report")[0])
    report = load_paths(engine, [smaller], now=NOW)
    assert report.missing["commitments"] == ["iom-report"]
    assert report.removed["commitments"] == []
    with Session(engine) as s:
        assert s.get(Commitment, "iom-report").active  # type: ignore[union-attr]
    pruned = load_paths(engine, [smaller], now=NOW, prune=True)
    assert pruned.removed["commitments"] == ["iom-report"]
    with Session(engine) as s:
        commitment = s.get(Commitment, "iom-report")
        assert commitment is not None and not commitment.active
        states = s.exec(select(Assignment.state).where(Assignment.commitment_id == "iom-report")).all()
        assert states == ["waived"]  # history kept, nothing more is chased


def test_bad_reference_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    load_paths(engine, [FIXTURES / "small.yaml"], now=NOW)
    before = counts(engine)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "contacts:\n  - id: gt-1\n    party: GT\n    name: Rosa\n    email: rosa@minex.gt.example\n"
        "commitments:\n  - id: new-one\n    title: New\n    owners: [HN, ZZZ]\n    due: {date: 2026-12-01}\n"
    )
    with pytest.raises(DataFileError) as info:
        load_paths(engine, [bad], now=NOW)
    text = str(info.value)
    assert "bad.yaml:2: unknown country or organisation code 'GT'" in text
    assert "bad.yaml:7: unknown owner 'ZZZ'" in text
    assert counts(engine) == before


def test_contacts_csv_refers_to_parties_already_loaded(engine: Engine, tmp_path: Path) -> None:
    load_paths(engine, [FIXTURES / "small.yaml"], now=NOW)
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text("id,party,name,email,role\nsv-1,SV,José Ramírez,jose@rree.sv.example,primary\n")
    report = load_paths(engine, [csv_file], now=NOW)
    assert report.created["contacts"] == ["sv-1"]
    assert report.missing["contacts"] == ["hn-primary"]  # reported, not removed


def test_changed_due_date_moves_pending_but_not_extended(engine: Engine, tmp_path: Path) -> None:
    from followup.daemon.actions import extend

    load_paths(engine, [FIXTURES / "small.yaml"], now=NOW)
    with Session(engine) as s:
        hn = s.exec(select(Assignment).where(Assignment.commitment_id == "matrix", Assignment.party_code == "HN")).one()
    assert hn.id is not None
    extend(engine, hn.id, date(2027, 1, 31), now=NOW, actor="test")
    moved = tmp_path / "moved.yaml"
    moved.write_text((FIXTURES / "small.yaml").read_text().replace("2026-12-15", "2026-12-20"))
    report = load_paths(engine, [moved], now=NOW)
    assert report.assignments.moved == 2
    with Session(engine) as s:
        rows = {a.party_code: a for a in s.exec(select(Assignment).where(Assignment.commitment_id == "matrix"))}
    assert rows["SV"].due_date == date(2026, 12, 20)
    assert rows["HN"].due_date == date(2027, 1, 31) and rows["HN"].original_due_date == date(2026, 12, 20)


def test_undated_proposals_are_named_not_loaded_until_dated(engine: Engine, tmp_path: Path) -> None:
    undated = tmp_path / "undated.yaml"
    entry = "  - id: ts-calendar\n    title: {en: Calendar of internal meetings, es: ''}\n    owners: [IOM]\n"
    undated.write_text("undated:\n" + entry, encoding="utf-8")
    report = load_paths(engine, [FIXTURES / "small.yaml", undated], now=NOW)
    assert report.undated == ["ts-calendar"]
    assert "undated: 1 not tracked until each has a due rule: ts-calendar" in report.summary_lines()
    with Session(engine) as s:
        assert s.get(Commitment, "ts-calendar") is None
    undated.write_text("undated:\n" + entry + "    due: {date: 2026-12-15}\n", encoding="utf-8")
    report = load_paths(engine, [FIXTURES / "small.yaml", undated], now=NOW)
    assert report.undated == [] and report.created["commitments"] == ["ts-calendar"]
    with Session(engine) as s:
        assert s.exec(select(Assignment).where(Assignment.commitment_id == "ts-calendar")).one().party_code == "IOM"
