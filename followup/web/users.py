"""Secretariat accounts: argon2 password hashes, roles, and the checks a login makes.

``secretariat`` may act (confirm, waive, extend, reopen, triage); ``viewer``
only reads. Removing a user or changing a password ends their sessions.
"""

from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from followup.errors import NotFoundError, StateError, UsageError
from followup.store.models import WebUser
from followup.store.vocabulary import WEB_ROLES

MIN_PASSWORD = 10
_hasher = PasswordHasher()
#: Verified against when the account does not exist, so a login takes as long either way.
_DUMMY_HASH = _hasher.hash("not a real password, only for timing")


def _normal(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise UsageError(f"{email!r} is not an email address: {exc}") from None


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"the password is too short: at least {MIN_PASSWORD} characters")


def find_user(session: Session, email: str) -> WebUser | None:
    return session.exec(select(WebUser).where(func.lower(WebUser.email) == email.strip().lower())).first()


def add_user(engine: Engine, email: str, role: str, password: str, *, now: datetime) -> WebUser:
    if role not in WEB_ROLES:
        raise UsageError(f"role must be one of {', '.join(WEB_ROLES)}")
    _check_password(password)
    address = _normal(email)
    with Session(engine, expire_on_commit=False) as session:
        if find_user(session, address) is not None:
            raise StateError(f"user {address} already exists (use 'followup user passwd')")
        user = WebUser(
            email=address, role=role, password_hash=_hasher.hash(password), created_at=now, sessions_valid_after=now
        )
        session.add(user)
        session.commit()
        return user


def set_password(engine: Engine, email: str, password: str, *, now: datetime) -> WebUser:
    _check_password(password)
    with Session(engine, expire_on_commit=False) as session:
        user = find_user(session, email)
        if user is None:
            raise NotFoundError(f"no user {email}")
        user.password_hash = _hasher.hash(password)
        user.sessions_valid_after = now
        session.add(user)
        session.commit()
        return user


def remove_user(engine: Engine, email: str) -> None:
    with Session(engine) as session:
        user = find_user(session, email)
        if user is None:
            raise NotFoundError(f"no user {email}")
        session.delete(user)
        session.commit()


def authenticate(engine: Engine, email: str, password: str) -> WebUser | None:
    """The active user with this email and password, else None (in about the same time either way)."""
    with Session(engine, expire_on_commit=False) as session:
        user = find_user(session, email) if email else None
        stored = user.password_hash if user is not None and user.active and user.password_hash else _DUMMY_HASH
        try:
            _hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if user is None or stored is _DUMMY_HASH:
            return None
        if _hasher.check_needs_rehash(stored):
            user.password_hash = _hasher.hash(password)
            session.add(user)
            session.commit()
        return user
