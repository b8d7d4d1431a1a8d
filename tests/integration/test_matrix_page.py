"""The web's paged matrix: chosen in SQL, and the SQL cell rule agrees with the Python one."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from followup.store.db import make_engine, migrate
from followup.store.matrix import status_matrix
from followup.store.models import Assignment
from followup.store.queries import cell_code_condition, matrix_page
from followup.store.status import AssignmentView, cell_for
from followup.store.vocabulary import ASSIGNMENT_STATES
from tests.factories import make_assignment, make_commitment, make_party

TODAY = date(2026, 8, 3)
CODES = ("overdue", "due_today", "due_soon", "pending", "extended", "submitted", "confirmed", "waived")


def test_sql_cell_codes_match_cell_for(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    with Session(engine) as s:
        make_party(s, "HN")
        n = 0
        for state in ASSIGNMENT_STATES:
            for days in (-40, -1, 0, 1, 29, 30, 31, 200):
                n += 1
                make_commitment(s, f"c{n}", due_date=TODAY + timedelta(days=days))
                make_assignment(s, f"c{n}", "HN", TODAY + timedelta(days=days), state=state)
        s.commit()
        rows = s.exec(select(Assignment)).all()
        expected = {
            a.id: cell_for(
                AssignmentView(a.id or 0, a.commitment_id, "HN", a.occurrence, a.state, a.due_date), TODAY
            ).code
            for a in rows
        }
        for code in CODES:
            chosen = set(s.exec(select(Assignment.id).where(cell_code_condition(code, TODAY))).all())
            assert chosen == {aid for aid, c in expected.items() if c == code}, code
    engine.dispose()


def test_pages_of_the_matrix(engine: Engine) -> None:
    """On SQLite and PostgreSQL: the state filter's per-commitment EXISTS is written once for both."""
    with Session(engine) as s:
        make_party(s, "HN")
        make_party(s, "SV")
        for k in range(7):
            due = TODAY + timedelta(days=10 - k)
            make_commitment(s, f"c{k}", due_date=due)
            make_assignment(s, f"c{k}", "HN", due, state="submitted" if k == 3 else "pending")
            make_assignment(s, f"c{k}", "SV", due)
        s.commit()
    first = matrix_page(engine, TODAY, offset=0, limit=3)
    assert first.total == 7
    assert [r.commitment_id for r in first.matrix.rows] == ["c6", "c5", "c4"]  # earliest due first
    assert [code for code, _ in first.matrix.owners] == ["HN", "SV"]
    columns = matrix_page(engine, TODAY, owner_offset=1, owner_limit=1)
    assert ([code for code, _ in columns.matrix.owners], columns.total_owners) == (["SV"], 2)
    last = matrix_page(engine, TODAY, offset=6, limit=3)
    assert [r.commitment_id for r in last.matrix.rows] == ["c0"]
    only = matrix_page(engine, TODAY, owner="SV", code="submitted")
    assert only.total == 0
    submitted = matrix_page(engine, TODAY, code="submitted")
    assert [r.commitment_id for r in submitted.matrix.rows] == ["c3"]
    # A state filter counts only the owners on the page: no page of rows that show nothing.
    assert matrix_page(engine, TODAY, code="submitted", owner_offset=1, owner_limit=1).total == 0
    assert matrix_page(engine, TODAY, code="submitted", owner_offset=0, owner_limit=1).total == 1
    everyone = matrix_page(engine, TODAY, code="due_soon", owner_limit=None)
    assert (everyone.total, [code for code, _ in everyone.matrix.owners]) == (7, ["HN", "SV"])
    whole = status_matrix(engine, TODAY)
    paged = matrix_page(engine, TODAY, limit=100)
    assert {r.commitment_id: r.cells for r in whole.rows} == {r.commitment_id: r.cells for r in paged.matrix.rows}
