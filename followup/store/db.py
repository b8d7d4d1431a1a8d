"""The engine, sessions and schema management.

SQLite gets WAL, foreign keys and a busy timeout on every connection, so that
the daemon and a CLI command can share one file. Alembic owns the schema:
:func:`migrate` upgrades to head, :func:`schema_status` tells ``followup
check`` whether a database is current.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from followup.errors import DatabaseError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlmodel import Session

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_USERINFO = re.compile(r"(?P<head>//[^/?#@]*?:)[^/?#]*@")
SQLITE_BUSY_TIMEOUT_MS = 10_000


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and pick the psycopg 3 driver for it."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def safe_url(url: str) -> str:
    """The URL fit for a log line or an error: any password replaced by ``***``."""
    try:
        parsed = sa.engine.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        return _USERINFO.sub(r"\g<head>***@", url)
    if parsed.password is None:
        return _USERINFO.sub(r"\g<head>***@", url)
    return parsed.render_as_string(hide_password=True)


def make_engine(url: str) -> Engine:
    """Create an engine; for SQLite, create the file's directory and set pragmas."""
    url = normalise_url(url)
    try:
        parsed = sa.engine.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        raise DatabaseError(
            f"database_url {safe_url(url)!r} is not a database URL (e.g. sqlite:///var/followup.db)"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            try:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(f"cannot create the directory of {parsed.database}: {exc.strerror}") from None
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend != "postgresql":
        raise DatabaseError(
            f"database_url {safe_url(url)!r}: unsupported database {backend!r} (use sqlite or postgresql)"
        )
    try:
        return sa.create_engine(url, pool_pre_ping=True)
    except ModuleNotFoundError as exc:
        raise DatabaseError(f"no driver for {backend} ({exc.name}); install followup[postgres]") from None


def one_line(exc: BaseException) -> str:
    """A driver's error message on one line (PostgreSQL's span several)."""
    return " ".join(str(getattr(exc, "orig", None) or exc).split())


def flush_to_disk(engine: Engine) -> None:
    """Make every transaction committed so far survive a power cut, before something outside depends on it.

    SQLite runs with ``synchronous=NORMAL`` in WAL mode: a commit is written
    to the ``-wal`` file but not synced, so a power cut may undo the last
    transactions (never corrupt the file). That is right for the daemon's own
    bookkeeping, which a rerun redoes, but not before an irreversible step
    outside the database, such as moving fetched messages out of the IMAP
    inbox: a message moved after a stored-then-undone batch would never be
    fetched again. Syncing the WAL file is what ``synchronous=FULL`` does at
    each commit (and a checkpoint syncs it before copying it), so one
    ``fsync`` here makes every frame committed before it durable, at the
    price of one sync per batch instead of one per commit. PostgreSQL's
    commits are durable already (``synchronous_commit`` on).
    """
    if engine.dialect.name != "sqlite":
        return
    database = engine.url.database
    if not database or database == ":memory:":
        return
    wal = Path(f"{database}-wal")
    try:
        fd = os.open(wal, os.O_RDONLY)
    except FileNotFoundError:
        return  # no WAL: every commit so far has been checkpointed (and synced) into the file
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error.

    SQLModel is imported here, not with the module: every command reaches the
    engine through this module, and the read-only ones that never open a
    session (``followup status``) start faster without it.
    """
    from sqlmodel import Session

    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema to ``revision``."""
    from alembic import command

    try:
        command.upgrade(alembic_config(engine), revision)
    except OperationalError as exc:
        raise DatabaseError(f"cannot migrate the database: {one_line(exc)}") from None


def head_revision() -> str:
    """The newest migration's revision, as Alembic sees it (see :func:`head_from_files` for the quick way)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(sa.create_engine("sqlite://")))
    head = script.get_current_head()
    assert head is not None
    return head


_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)


def head_from_files(versions: Path = MIGRATIONS_DIR / "versions") -> str:
    """The head revision from the migration files' ``revision`` and ``down_revision`` lines.

    Every command checks the schema against the head before it works; this
    reads two lines per file, where Alembic's script directory (with Mako
    and Pygments) costs a tenth of a second of each command's start-up. When
    the files do not give exactly one head, Alembic decides. A test checks
    the two agree.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        found = dict(_ASSIGNMENT.findall(path.read_text(encoding="utf-8")))
        if "revision" not in found:
            continue
        revisions.add(ast.literal_eval(found["revision"]))
        down = ast.literal_eval(found.get("down_revision", "None"))
        parents.update([down] if isinstance(down, str) else list(down or ()))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else head_revision()


def current_revision(engine: Engine) -> str | None:
    """The database's revision (Alembic's version table), None for an empty database."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        found: list[str] = list(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
    return found[0] if len(found) == 1 else None


def schema_status(engine: Engine) -> tuple[str | None, str]:
    """(current revision, head revision); raise DatabaseError if unreachable."""
    try:
        return current_revision(engine), head_from_files()
    except OperationalError as exc:
        raise DatabaseError(f"database unreachable: {one_line(exc)}") from None


def ensure_current(engine: Engine) -> None:
    """Refuse to work on a database whose schema is not at head."""
    current, head = schema_status(engine)
    if current != head:
        where = "empty" if current is None else f"at revision {current}"
        raise DatabaseError(f"database schema is {where}, expected {head}: run 'followup init'")
