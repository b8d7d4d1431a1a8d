"""The streamed status matrix is the matrix: same cells, same JSON and CSV bytes, on SQLite and PostgreSQL.

The reference is the pure :func:`followup.store.status.build_matrix` over
every assignment read through the ORM (what ``followup status`` did before
it streamed), and ``json.dumps`` over :func:`followup.cli.output.matrix_json`.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from followup.cli.output import matrix_json, write_matrix_csv, write_matrix_json
from followup.store.db import session_scope
from followup.store.matrix import MatrixStream, open_matrix, status_matrix
from followup.store.models import Assignment, Commitment, InboundMatch, InboundMessage, Party
from followup.store.status import AssignmentView, Matrix, build_matrix, rule_text
from tests.factories import make_assignment, make_commitment, make_party

TODAY = date(2026, 8, 3)


def _fill(engine: Engine) -> None:
    """Several occurrences per owner, an inactive commitment, replies, organisations, awkward titles."""
    with session_scope(engine) as s:
        make_party(s, "SV", name_en="El Salvador")
        make_party(s, "HN", name_en="Honduras")
        make_party(s, "IOM", kind="organisation", holiday_country="", member=False, name_en='IOM "OIM"')
        make_party(s, "NI", name_en="Nicaragua")  # no assignment: no column
        titles = ['Matriz sobre integración "final"', "Report\\nwith a backslash", "Ñandú ✓", "plain"]
        for k, title in enumerate(titles):
            make_commitment(s, f"c{k}", title_en=title, due_date=TODAY + timedelta(days=k))
        make_commitment(s, "gone", active=False)
        states = ("pending", "confirmed", "submitted", "extended", "waived")
        n = 0
        for k in range(len(titles)):
            for code in ("SV", "HN", "IOM"):
                if (k, code) == (3, "IOM"):
                    continue
                for occurrence in range(1 + (k + len(code)) % 3):
                    n += 1
                    due = TODAY + timedelta(days=(n * 37) % 90 - 45)
                    make_assignment(s, f"c{k}", code, due, occurrence=f"o{occurrence}", state=states[n % 5])
        make_assignment(s, "gone", "HN", TODAY)
        s.flush()
        ids = [a for a in s.exec(select(Assignment.id).order_by(col(Assignment.id))).all() if a is not None]
        for m in range(3):
            message = InboundMessage(content_hash=f"h{m}", sender="a@hn.example.org")
            s.add(message)
            s.flush()
            for aid in ids[m :: 2 + m]:
                s.add(InboundMatch(inbound_id=message.id or 0, assignment_id=aid))


def _reference(engine: Engine, country: str | None = None) -> Matrix:
    with Session(engine) as s:
        replies = dict(
            s.exec(select(InboundMatch.assignment_id, func.count()).group_by(col(InboundMatch.assignment_id))).all()
        )
        stmt = select(Assignment).join(Commitment).where(col(Commitment.active))
        if country:
            stmt = stmt.where(Assignment.party_code == country)
        views = [
            AssignmentView(a.id or 0, a.commitment_id, a.party_code, a.occurrence, a.state, a.due_date,
                           replies.get(a.id or 0, 0))
            for a in s.exec(stmt).all()
        ]  # fmt: skip
        commitments = [
            (c.id, c.title_en, rule_text(c))
            for c in s.exec(select(Commitment).where(col(Commitment.active)).order_by(Commitment.id)).all()
        ]
        parties = s.exec(select(Party).order_by(col(Party.member).desc(), Party.kind, Party.code)).all()
        return build_matrix(commitments, [(p.code, p.name_en) for p in parties], views, TODAY)


def _csv(matrix: Matrix) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["commitment", "title", "due_rule", *[code for code, _ in matrix.owners]])
    for row in matrix.rows:
        writer.writerow([row.commitment_id, row.title, row.due_rule,
                         *[row.cells[c].label if c in row.cells else "" for c, _ in matrix.owners]])  # fmt: skip
    return buf.getvalue()


def test_streamed_matrix_is_the_matrix(engine: Engine) -> None:
    _fill(engine)
    for country in (None, "HN", "IOM"):
        expected = _reference(engine, country)
        assert any(cell.replies for row in expected.rows for cell in row.cells.values())
        assert status_matrix(engine, TODAY, country=country) == expected
        out = io.StringIO()
        with open_matrix(engine, TODAY, country=country) as stream:
            write_matrix_json(stream, out)
        assert out.getvalue() == json.dumps(matrix_json(expected), ensure_ascii=False, indent=2) + "\n"
        out = io.StringIO()
        with open_matrix(engine, TODAY, country=country) as stream:
            write_matrix_csv(stream, out)
        assert out.getvalue() == _csv(expected)
    assert [code for code, _ in status_matrix(engine, TODAY).owners] == ["HN", "SV", "IOM"]


def test_empty_matrix_json_is_the_same_document() -> None:
    empty = Matrix(TODAY, [], [])
    out = io.StringIO()
    write_matrix_json(MatrixStream(TODAY, [], iter([])), out)
    assert out.getvalue() == json.dumps(matrix_json(empty), ensure_ascii=False, indent=2) + "\n"
