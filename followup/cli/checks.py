"""Checks on what a user typed: an unknown code is an error, never an empty listing."""

from __future__ import annotations

from sqlmodel import Session, select

from followup.errors import NotFoundError
from followup.store.models import Party


def require_party(session: Session, code: str) -> str:
    """The stored party code for ``code`` (any case); NotFoundError listing the known codes otherwise."""
    wanted = code.strip().upper()
    codes = sorted(session.exec(select(Party.code)).all())
    for known in codes:
        if known.upper() == wanted:
            return known
    listed = ", ".join(codes) if codes else "none loaded"
    raise NotFoundError(f"no country or organisation {code!r} (known: {listed})")
