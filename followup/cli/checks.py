"""Checks on what a user typed: an unknown code is an error, never an empty listing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from followup.errors import NotFoundError
from followup.store.light_tables import party

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session


def require_party(db: Session | Connection, code: str) -> str:
    """The stored party code for ``code`` (any case); NotFoundError listing the known codes otherwise.

    Takes a session or a bare connection, and asks through the light table so
    that ``followup status --country`` need not build the models.
    """
    wanted = code.strip().upper()
    codes: list[str] = sorted(db.scalars(sa.select(party.c.code)))
    for known in codes:
        if known.upper() == wanted:
            return known
    listed = ", ".join(codes) if codes else "none loaded"
    raise NotFoundError(f"no country or organisation {code!r} (known: {listed})")
