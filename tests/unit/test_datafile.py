from datetime import date
from pathlib import Path

import pytest

from followup.errors import DataFileError
from followup.store.datafile import parse_files

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def problems_of(tmp_path: Path, text: str, name: str = "data.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataFileError) as info:
        parse_files([path])
    return [str(p).replace(str(tmp_path) + "/", "") for p in info.value.problems]


def test_small_fixture_parses_every_section() -> None:
    data = parse_files([FIXTURES / "small.yaml"])
    assert [p.code for p in data.parties] == ["HN", "SV", "IOM"]
    assert data.parties[2].kind == "organisation" and not data.parties[2].member
    assert data.parties[0].holiday_country == "HN" and data.parties[0].member
    assert data.contacts[0].email == "ana@migracion.hn.example"
    by_id = {c.id: c for c in data.commitments}
    assert by_id["matrix"].owners_all_members and by_id["matrix"].due.on == date(2026, 12, 15)
    assert by_id["matrix"].title.get("es") == "Matriz"
    assert by_id["input"].due.kind == "meeting" and by_id["input"].due.meeting_kind == "rcgm"
    assert by_id["iom-report"].due.on == date(2026, 10, 31) and by_id["iom-report"].due.precision == "month"
    assert by_id["iom-report"].owners == ("IOM",)


def test_each_kind_of_problem_is_located(tmp_path: Path) -> None:
    text = """\
countries:
  - code: XX
    name: Nowhere
    timezone: Mars/Base
    language: fr
contacts:
  - id: hn-1
    party: HN
    name: Ana
    email: not-an-address
  - id: hn-1
    party: HN
    name: Ana again
    email: ana@x.example
commitments:
  - id: c1
    title: T
    owners: []
    due: {date: 2026-02-30}
  - id: c2
    title: T2
    owners: [HN]
    due: {month: 2026-13}
"""
    found = problems_of(tmp_path, text)
    assert "data.yaml:2: unknown country code 'XX' (expected ISO 3166 alpha-2, e.g. HN)" in found
    assert any(p.startswith("data.yaml:4: unknown time zone 'Mars/Base'") for p in found)
    assert any(p.startswith("data.yaml:5: unknown language 'fr'") for p in found)
    assert any(p.startswith("data.yaml:10: invalid email address 'not-an-address'") for p in found)
    assert any(p.startswith("data.yaml:18: commitment owned by nobody") for p in found)
    assert "data.yaml:19: impossible date '2026-02-30' (expected YYYY-MM-DD)" in found
    assert "data.yaml:23: impossible month '2026-13' (expected YYYY-MM)" in found


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    found = problems_of(tmp_path, "countries:\n  - code: HN\n    name: [unclosed\n")
    assert len(found) == 1
    assert found[0].startswith("data.yaml:4: YAML syntax error") or found[0].startswith("data.yaml:3: YAML syntax")


def test_problems_across_files_are_all_reported(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    a.write_text("meetings:\n  - id: m1\n    kind: party\n    title: X\n    start: 2026-01-01\n", encoding="utf-8")
    b = tmp_path / "b.csv"
    b.write_text("id,party,name,email\nx-1,HN,Ana,bad@\n", encoding="utf-8")
    with pytest.raises(DataFileError) as info:
        parse_files([a, b, tmp_path / "missing.yaml", tmp_path / "notes.txt"])
    text = str(info.value)
    assert "a.yaml:3: unknown meeting kind 'party'" in text
    assert "b.csv:2: invalid email address 'bad@'" in text
    assert "missing.yaml: file not found" in text
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataFileError, match=r"notes.txt: unknown file type"):
        parse_files([tmp_path / "notes.txt"])


def test_duplicate_ids_point_at_the_first(tmp_path: Path) -> None:
    one = "  - id: hn-1\n    party: HN\n    name: Ana\n    email: ana@x.example\n"
    found = problems_of(tmp_path, "contacts:\n" + one + one)
    assert found == ["data.yaml:6: duplicate contact id 'hn-1' (first at data.yaml:2)"]


def test_contacts_csv(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(
        "id,party,name,email,role,language,timezone,active\n"
        "hn-1,HN,Ana López,Ana@Migracion.HN.example,primary,es,,yes\n"
        "hn-2,HN,Luis Pérez,luis@migracion.hn.example,alternate,,,no\n",
        encoding="utf-8",
    )
    data = parse_files([path])
    assert [(c.key, c.role, c.active, c.language) for c in data.contacts] == [
        ("hn-1", "primary", True, "es"),
        ("hn-2", "alternate", False, None),
    ]
    assert data.contacts[0].email == "Ana@migracion.hn.example"


def test_binary_and_unknown_fields(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"\x00\x01\x02")
    with pytest.raises(DataFileError, match="binary file"):
        parse_files([path])
    found = problems_of(
        tmp_path, "contacts:\n  - id: a\n    party: HN\n    name: A\n    email: a@b.example\n    phone: 1\n"
    )
    assert found == ["data.yaml:6: unknown field 'phone' in a contact"]
