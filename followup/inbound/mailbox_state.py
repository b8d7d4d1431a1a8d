"""Where each IMAP folder was left: load and save the cursor in the MailboxState table.

The caller saves the cursor in the same transaction that stores the message,
so the database never claims a message it does not hold.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from followup.inbound.imap_source import MailboxCursor
from followup.store import models  # noqa: F401  (registers the table)

#: Plain statements, not ORM objects: the cursor is saved once per FETCH, in the storing transaction.
STATE = SQLModel.metadata.tables["mailbox_state"]


def load_cursor(session: Session, mailbox_key: str) -> MailboxCursor | None:
    row = session.connection().execute(_select(mailbox_key)).first()
    if row is None:
        return None
    return MailboxCursor(uidvalidity=row.uidvalidity, last_uid=row.last_uid)


def save_cursor(session: Session, mailbox_key: str, uidvalidity: int, last_uid: int) -> MailboxCursor:
    """Record progress. Within one UIDVALIDITY the cursor never moves back; a new one replaces it.

    One UPDATE in the usual case (the rule is in its SET clause), an INSERT the first time.
    """
    conn = session.connection()
    row = conn.execute(_ADVANCE, {"key": mailbox_key, "validity": uidvalidity, "uid": last_uid}).first()
    if row is None:
        conn.execute(sa.insert(STATE).values(mailbox=mailbox_key, uidvalidity=uidvalidity, last_uid=last_uid))
        return MailboxCursor(uidvalidity=uidvalidity, last_uid=last_uid)
    return MailboxCursor(uidvalidity=row.uidvalidity, last_uid=row.last_uid)


_VALIDITY, _UID = sa.bindparam("validity", type_=sa.Integer), sa.bindparam("uid", type_=sa.Integer)
_BEHIND = sa.and_(STATE.c.uidvalidity == _VALIDITY, STATE.c.last_uid > _UID)
#: Built once (it runs once per FETCH): within one UIDVALIDITY the cursor never moves back.
_ADVANCE = (
    sa.update(STATE)
    .where(STATE.c.mailbox == sa.bindparam("key"))
    .values(
        last_uid=sa.case((_BEHIND, STATE.c.last_uid), else_=_UID),
        uidvalidity=_VALIDITY,
    )
    .returning(STATE.c.uidvalidity, STATE.c.last_uid)
)


def _select(mailbox_key: str) -> sa.Select[tuple[int, int]]:
    return sa.select(STATE.c.uidvalidity, STATE.c.last_uid).where(STATE.c.mailbox == mailbox_key)
