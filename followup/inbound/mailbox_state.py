"""Where each IMAP folder was left: load and save the cursor in the MailboxState table.

The caller saves the cursor in the same transaction that stores the message,
so the database never claims a message it does not hold.
"""

from __future__ import annotations

from sqlmodel import Session

from followup.inbound.imap_source import MailboxCursor
from followup.store.models import MailboxState


def load_cursor(session: Session, mailbox_key: str) -> MailboxCursor | None:
    row = session.get(MailboxState, mailbox_key)
    if row is None:
        return None
    return MailboxCursor(uidvalidity=row.uidvalidity, last_uid=row.last_uid)


def save_cursor(session: Session, mailbox_key: str, uidvalidity: int, last_uid: int) -> MailboxCursor:
    """Record progress. Within one UIDVALIDITY the cursor never moves back; a new one replaces it."""
    row = session.get(MailboxState, mailbox_key)
    if row is None:
        row = MailboxState(mailbox=mailbox_key, uidvalidity=uidvalidity, last_uid=last_uid)
        session.add(row)
    elif row.uidvalidity != uidvalidity:
        row.uidvalidity = uidvalidity
        row.last_uid = last_uid
    else:
        row.last_uid = max(row.last_uid, last_uid)
    session.flush()
    return MailboxCursor(uidvalidity=row.uidvalidity, last_uid=row.last_uid)
