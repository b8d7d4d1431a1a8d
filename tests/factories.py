"""Test data rows, inserted directly with SQLModel: parties, contacts, commitments, assignments.

Every factory takes an open session, adds its row, flushes (so generated ids
exist) and returns it; the caller commits. Defaults describe a plausible RCM
member so a test only spells out what it is about.
"""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path
from typing import Any

from sqlmodel import Session

from followup.settings import Settings, load_settings
from followup.store.models import Assignment, Commitment, Contact, Party

#: Capital-city zones of the RCM members and partners, so ``make_party("MX")`` is realistic.
PARTY_ZONES = {
    "BZ": "America/Belize",
    "CA": "America/Toronto",
    "CR": "America/Costa_Rica",
    "DO": "America/Santo_Domingo",
    "SV": "America/El_Salvador",
    "GT": "America/Guatemala",
    "HN": "America/Tegucigalpa",
    "MX": "America/Mexico_City",
    "NI": "America/Managua",
    "PA": "America/Panama",
    "US": "America/New_York",
}
ENGLISH_SPEAKING = {"BZ", "CA", "US"}

_serial = itertools.count(1)


def make_party(session: Session, code: str = "HN", **fields: Any) -> Party:
    """A member country (organisations: pass ``kind="organisation"``, ``holiday_country=""``)."""
    country = fields.get("kind", "country") == "country"
    values: dict[str, Any] = {
        "code": code,
        "kind": "country",
        "name_en": code,
        "name_es": code,
        "timezone": PARTY_ZONES.get(code, "America/Costa_Rica"),
        "language": "en" if code in ENGLISH_SPEAKING else "es",
        "member": country,
        "holiday_country": code if country and code in PARTY_ZONES else "",
        "active": True,
    }
    values.update(fields)
    party = Party(**values)
    session.add(party)
    session.flush()
    return party


def make_contact(session: Session, party_code: str = "HN", **fields: Any) -> Contact:
    """A focal point; ``role`` defaults to primary, the key and email to unique values."""
    n = next(_serial)
    values: dict[str, Any] = {
        "key": f"{party_code.lower()}-contact-{n}",
        "party_code": party_code,
        "name": f"Focal Point {n}",
        "email": f"fp{n}@{party_code.lower()}.example.org",
        "role": "primary",
        "active": True,
        "address_state": "ok",
    }
    values.update(fields)
    contact = Contact(**values)
    session.add(contact)
    session.flush()
    return contact


def make_commitment(session: Session, commitment_id: str | None = None, **fields: Any) -> Commitment:
    """A fixed-date commitment; name a reminder ``policy`` to leave the default."""
    n = next(_serial)
    values: dict[str, Any] = {
        "id": commitment_id or f"commitment-{n}",
        "title_en": f"Submit matrix {n}",
        "title_es": f"Enviar matriz {n}",
        "due_kind": "date",
        "due_precision": "day",
        "active": True,
    }
    values.update(fields)
    commitment = Commitment(**values)
    session.add(commitment)
    session.flush()
    return commitment


def make_assignment(session: Session, commitment_id: str, party_code: str, due_date: date, **fields: Any) -> Assignment:
    """One party's instance of a commitment, due on ``due_date`` (pending unless ``state`` says)."""
    values: dict[str, Any] = {
        "commitment_id": commitment_id,
        "party_code": party_code,
        "occurrence": due_date.isoformat(),
        "original_due_date": due_date,
        "due_date": due_date,
        "state": "pending",
    }
    values.update(fields)
    assignment = Assignment(**values)
    session.add(assignment)
    session.flush()
    return assignment


def settings_for(tmp_path: Path, *, smtp_port: int | None = None, **env: str) -> Settings:
    """Settings for a test: a SQLite file in ``tmp_path``, a fixed signing secret, an SMTP server
    on loopback without TLS when ``smtp_port`` is given, plus any ``FOLLOWUP_*`` variables in ``env``.

    An empty TOML file is named so that nothing of the machine's configuration leaks in.
    """
    config = tmp_path / "followup.toml"
    config.write_text("")
    environ = {
        "FOLLOWUP_DATABASE_URL": f"sqlite:///{tmp_path / 'followup.db'}",
        "FOLLOWUP_SIGNING_SECRET": "a-test-secret-that-is-long-enough",
    }
    if smtp_port is not None:
        environ |= {
            "FOLLOWUP_SMTP__HOST": "127.0.0.1",
            "FOLLOWUP_SMTP__PORT": str(smtp_port),
            "FOLLOWUP_SMTP__SECURITY": "none",
        }
    return load_settings(config, environ=environ | env)
