"""Names with their articles and people's own greetings: from the data file to the email built.

Each language has its own form; nothing is borrowed across languages (an English
"Dear Ms Montoya," in a Spanish email, or "the" in a Spanish sentence, is worse
than the neutral default).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from followup.errors import DataFileError
from followup.outbound.emails import build_email
from followup.outbound.emails.base import BuildContext, Draft
from followup.outbound.emails.lookup import RowCache
from followup.outbound.render import Renderer
from followup.schedule.loading import load_paths
from followup.schedule.reminder_rules import DeliveryGroup
from followup.settings import Settings
from followup.store.datafile import parse_files
from followup.store.models import Assignment, Contact, Notification

NOW = datetime(2026, 8, 17, 15, 0, tzinfo=UTC)

DATA = """
organisations:
  - code: IOM
    name: {en: International Organization for Migration, es: Organización Internacional para las Migraciones}
    name_in_text:
      en: the International Organization for Migration
      es: la Organización Internacional para las Migraciones
    timezone: America/Costa_Rica
    language: es
    holidays: CR
  - code: UNICEF
    name: {en: United Nations Children's Fund, es: Fondo de las Naciones Unidas para la Infancia}
    name_in_text: {es: el Fondo de las Naciones Unidas para la Infancia}
    timezone: America/Panama
    language: en
contacts:
  - id: iom-primary
    party: IOM
    name: Elena Montoya
    email: emontoya@iom.example.org
    salutation: {en: "Dear Ms Montoya,", es: "Estimada licenciada Montoya:"}
  - id: unicef-primary
    party: UNICEF
    name: Tomás Herrera
    email: therrera@unicef.example.org
    salutation: {es: "Estimado señor Herrera:"}
commitments:
  - id: matrix
    title: {en: Integration matrix, es: Matriz sobre integración}
    owners: [IOM, UNICEF]
    due: {date: 2026-08-31}
"""

CONTACTS_CSV = """id,party,name,email,role,salutation_en,salutation_es
unicef-alt,UNICEF,Kevin Thompson,kthompson@unicef.example.org,alternate,"Dear Mr Thompson,",
"""


def _load(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "data.yaml").write_text(DATA, encoding="utf-8")
    (tmp_path / "contacts.csv").write_text(CONTACTS_CSV, encoding="utf-8")
    load_paths(engine, [tmp_path / "data.yaml", tmp_path / "contacts.csv"], now=NOW)


def _reminder(engine: Engine, party: str, key: str) -> Draft:
    with Session(engine) as session:
        contact = session.exec(select(Contact).where(Contact.key == key)).one()
        assignment = session.exec(select(Assignment).where(Assignment.party_code == party)).one()
        assert contact.id is not None and assignment.id is not None
        row = Notification(
            id=100, dedupe_key=f"r-{key}", kind="reminder", assignment_id=assignment.id, contact_id=contact.id,
            recipient=contact.email, step="-14d", scheduled_at=NOW,
        )  # fmt: skip
        group = DeliveryGroup(contact.id, contact.email, NOW.date(), (row,), (row,))
        draft = build_email(BuildContext(engine, Settings(), Renderer(), RowCache(session)), group, NOW)
    assert draft is not None
    return draft


def test_spanish_reminder_greets_as_the_data_says_and_names_the_owner_with_its_article(
    engine: Engine, tmp_path: Path
) -> None:
    _load(engine, tmp_path)
    text = _reminder(engine, "IOM", "iom-primary").rendered.text
    assert "Estimada licenciada Montoya:" in text
    assert "Estimada/o" not in text
    assert "compromiso de la Organización Internacional para las Migraciones vence" in text


def test_english_reminder_borrows_neither_greeting_nor_article_from_spanish(engine: Engine, tmp_path: Path) -> None:
    _load(engine, tmp_path)
    text = _reminder(engine, "UNICEF", "unicef-primary").rendered.text
    # The contact has only a Spanish greeting and the party only a Spanish running-text form.
    assert "Dear Tomás Herrera," in text
    assert "Estimado" not in text
    assert "due from United Nations Children's Fund in 14 days" in text


def test_csv_columns_carry_greetings_per_language(engine: Engine, tmp_path: Path) -> None:
    _load(engine, tmp_path)
    with Session(engine) as session:
        kevin = session.exec(select(Contact).where(Contact.key == "unicef-alt")).one()
    assert (kevin.salutation_en, kevin.salutation_es) == ("Dear Mr Thompson,", "")


def test_spanish_contraction_of_de_and_el(engine: Engine, tmp_path: Path) -> None:
    _load(engine, tmp_path)
    with Session(engine) as session:
        contact = session.exec(select(Contact).where(Contact.key == "unicef-primary")).one()
        contact.language = "es"
        session.add(contact)
        session.commit()
    text = _reminder(engine, "UNICEF", "unicef-primary").rendered.text
    assert "Estimado señor Herrera:" in text
    assert "compromiso del Fondo de las Naciones Unidas para la Infancia vence" in text


@pytest.mark.parametrize(
    ("snippet", "problem"),
    [
        ('    salutation: "Dear Ms Montoya,"\n', "'salutation' must be a mapping {en: ..., es: ...}"),
        ("    salutation: {fr: Chère Madame,}\n", "'salutation' has unknown language(s) ['fr']"),
    ],
)
def test_a_greeting_without_its_language_is_a_located_problem(tmp_path: Path, snippet: str, problem: str) -> None:
    text = DATA.replace('    salutation: {en: "Dear Ms Montoya,", es: "Estimada licenciada Montoya:"}\n', snippet)
    path = tmp_path / "data.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataFileError) as caught:
        parse_files([path])
    [found] = caught.value.problems
    assert problem in found.message
    assert found.line == text.splitlines().index(snippet.rstrip("\n")) + 1


def test_loading_twice_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    _load(engine, tmp_path)
    (tmp_path / "data.yaml").write_text(DATA, encoding="utf-8")
    report = load_paths(engine, [tmp_path / "data.yaml", tmp_path / "contacts.csv"], now=NOW)
    assert not report.updated["contacts"] and not report.updated["parties"]
