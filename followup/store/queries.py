"""Read-side queries shared by the CLI, the digest and the daemon."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from followup.store.models import Assignment, Commitment, InboundMatch, Party
from followup.store.status import AssignmentView, Matrix, build_matrix, rule_text


def status_matrix(engine: Engine, today: date, *, country: str | None = None) -> Matrix:
    with Session(engine) as session:
        commitments = session.exec(select(Commitment).where(col(Commitment.active)).order_by(Commitment.id)).all()
        parties = session.exec(select(Party).order_by(col(Party.member).desc(), Party.kind, Party.code)).all()
        replies = dict(
            session.exec(
                select(InboundMatch.assignment_id, func.count()).group_by(col(InboundMatch.assignment_id))
            ).all()
        )
        stmt = select(Assignment).join(Commitment).where(col(Commitment.active))
        if country:
            stmt = stmt.where(Assignment.party_code == country)
        views = [
            AssignmentView(
                a.id or 0, a.commitment_id, a.party_code, a.occurrence, a.state, a.due_date, replies.get(a.id or 0, 0)
            )
            for a in session.exec(stmt).all()
        ]
    rows = [(c.id, c.title_en, rule_text(c)) for c in commitments]
    return build_matrix(rows, [(p.code, p.name_en) for p in parties], views, today)
