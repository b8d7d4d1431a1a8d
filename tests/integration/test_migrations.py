"""Alembic owns the schema: migrating from nothing must give exactly the models' schema."""

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import followup.store.models  # noqa: F401
from followup.store.db import alembic_config, current_revision, ensure_current, head_from_files, head_revision


def test_migrated_schema_equals_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []
    assert current_revision(engine) == head_revision()
    ensure_current(engine)


def test_downgrade_and_upgrade_again(engine: Engine) -> None:
    command.downgrade(alembic_config(engine), "base")
    assert current_revision(engine) is None
    command.upgrade(alembic_config(engine), "head")
    assert current_revision(engine) == head_revision()


def test_durable_ingest_revision_marks_never_interpreted_rows_for_interpretation(engine: Engine) -> None:
    """Rows a crash left between storing and interpreting (placeholders only) stay NULL: the next run reads them."""
    command.downgrade(alembic_config(engine), "0001")
    common = {
        "raw": b"x",
        "source": "s",
        "sender_name": "",
        "intent": "unknown",
        "attachments": "[]",
        "bounced_recipient": "",
        "verified": False,
        "error": "",
        "triage": "none",
        "classification": "human",
    }
    rows = [
        {
            "content_hash": "a",
            "sender": "a@x.org",
            "subject": "Re",
            "new_text": "ok",
            "match_method": "token",
            "quarantined": False,
        },
        {"content_hash": "b", "sender": "", "subject": "", "new_text": "", "match_method": "", "quarantined": False},
        {"content_hash": "c", "sender": "", "subject": "", "new_text": "", "match_method": "", "quarantined": True},
    ]
    inbound = sa.table("inbound_message", *(sa.column(k) for k in [*common, *rows[0], "received_at"]))
    at = datetime(2026, 9, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(inbound.insert(), [{**common, **r, "received_at": at} for r in rows])
    command.upgrade(alembic_config(engine), "head")
    with engine.connect() as conn:
        found = dict(conn.execute(sa.text("SELECT content_hash, interpreted_at FROM inbound_message")).all())
    assert found["a"] is not None and found["c"] is not None
    assert found["b"] is None
    engine.dispose()


def test_raw_bytes_move_to_their_own_table_and_back(engine: Engine) -> None:
    """0012 moves every stored message's bytes to inbound_raw, untouched; its downgrade puts them back."""
    command.downgrade(alembic_config(engine), "0011")
    raw = b"From: a@x.org\r\n\r\n\x00\xff bytes as received"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO inbound_message (content_hash, raw, source, sender, sender_name, subject, classification,"
                " intent, new_text, attachments, bounced_recipient, match_method, verified, quarantined, error, triage,"
                " auth_failure) VALUES ('h', :raw, '', '', '', '', 'human', 'unknown', '', '[]', '', '', false, false,"
                " '', 'none', '')"
            ),
            {"raw": raw},
        )
    command.upgrade(alembic_config(engine), "0012")
    with engine.connect() as conn:
        moved = conn.execute(
            sa.text("SELECT r.raw FROM inbound_raw r JOIN inbound_message m ON m.id = r.inbound_id")
        ).all()
    assert [bytes(r.raw) for r in moved] == [raw]
    command.downgrade(alembic_config(engine), "0011")
    with engine.connect() as conn:
        back = conn.execute(sa.text("SELECT raw FROM inbound_message")).scalars().all()
    assert [bytes(b) for b in back] == [raw]
    command.upgrade(alembic_config(engine), "head")
    engine.dispose()


def test_head_from_files_is_alembics_head(tmp_path: Path) -> None:
    """The quick head every command checks against is the one Alembic upgrades to; a fork defers to Alembic."""
    assert head_from_files() == head_revision()
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "a.py").write_text('revision = "a"\ndown_revision = None\n', encoding="utf-8")
    (versions / "b.py").write_text('revision: str = "b"\ndown_revision: str | None = "a"\n', encoding="utf-8")
    (versions / "c.py").write_text("revision = 'c'\ndown_revision = ('b',)\n", encoding="utf-8")
    assert head_from_files(versions) == "c"
    (versions / "d.py").write_text('revision = "d"\ndown_revision = "b"\n', encoding="utf-8")
    assert head_from_files(versions) == head_revision()  # two heads: Alembic's answer for the real files
