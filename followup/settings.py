"""Settings: one frozen object built from defaults, a TOML file and the environment.

Sources, later ones winning: built-in defaults, the TOML file (``--config``,
else ``FOLLOWUP_CONFIG``, else ``./config/followup.toml`` when present), then
``FOLLOWUP_*`` environment variables, nested with ``__``
(``FOLLOWUP_SMTP__HOST``). Any setting can also be read from a file named by
``FOLLOWUP_<NAME>_FILE`` (``FOLLOWUP_SMTP__PASSWORD_FILE``), which is how
container secrets arrive.

The environment is an injectable mapping, so tests never touch ``os.environ``;
we validate with plain pydantic models rather than pydantic-settings' own
sources for that reason (its environment source always reads the process
environment).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from followup.errors import ConfigError

ENV_PREFIX = "FOLLOWUP_"
DEFAULT_CONFIG_PATH = Path("config/followup.toml")
LANGUAGES = ("en", "es")
#: Bytes of mail one ingest batch holds at most (``replies.batch_bytes``).
DEFAULT_BATCH_BYTES = 4 * 1024 * 1024


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("an IANA time zone such as America/Costa_Rica") from None
    return value


def _check_language(value: str) -> str:
    if value not in LANGUAGES:
        raise ValueError(f"one of {', '.join(LANGUAGES)}")
    return value


class SecretariatSettings(_Section):
    name: str = "Technical Secretariat of the Regional Conference on Migration"
    #: The name as Spanish emails sign it (empty: the English name).
    name_es: str = "Secretaría Técnica de la Conferencia Regional sobre Migración"
    email: str = "ts@rcm.example.org"
    timezone: str = "America/Costa_Rica"
    language: str = "en"
    #: Short code used in subject tags such as ``[RCM-42]``.
    tag: str = Field(default="RCM", pattern=r"^[A-Z][A-Z0-9]{1,9}$")
    #: The Spanish acronym people may type instead (``[CRM-42]``); replies carrying it are matched too.
    tag_es: str = Field(default="CRM", pattern=r"^([A-Z][A-Z0-9]{1,9})?$")

    _zone = field_validator("timezone")(_check_zone)
    _lang = field_validator("language")(_check_language)


class MailSettings(_Section):
    from_address: str = "ts@rcm.example.org"
    from_name: str = "RCM Technical Secretariat"
    #: The display name on Spanish emails (empty: ``from_name``).
    from_name_es: str = "Secretaría Técnica de la CRM"
    #: Right-hand side of Message-IDs and of reply-token addresses.
    domain: str = "rcm.example.org"
    #: Local part of the Reply-To address; the token follows a ``+``.
    reply_local_part: str = "ts"
    #: The local Maildir used when no SMTP host is configured.
    maildir: Path = Path("var/maildir")
    #: Directory whose templates override the bundled ones, file by file.
    templates_dir: Path | None = None


class SmtpSettings(_Section):
    #: Empty means: write messages to the Maildir instead of sending.
    host: str = ""
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str = ""
    password: SecretStr = SecretStr("")
    verify_tls: bool = True
    ca_file: Path | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)
    #: How long to wait for the reply to the final "." of DATA (RFC 5321 4.5.3.2.6: 10 minutes).
    data_timeout_seconds: float = Field(default=600.0, gt=0)
    #: The connection pool: at most this many SMTP connections (and transactions) at once. With a relay
    #: that takes 50 ms per message, 4 connections carry at most 80 messages a second.
    max_connections: int = Field(default=4, ge=1, le=64)
    #: The relay's quotas, shared by every daemon sending through it (0: no limit). Microsoft 365 allows
    #: 30 messages per minute and 10,000 recipients per 24 hours per mailbox; Google Workspace about
    #: 2,000 messages (10,000 recipients, 3,000 of them external) per user per 24 hours.
    messages_per_minute: int = Field(default=0, ge=0)
    #: Recipients (To + Cc) per rolling 24 hours.
    recipients_per_day: int = Field(default=0, ge=0)
    #: After a throttling reply (421, 451 4.7.x, 454) nothing is sent through the relay for this long,
    #: doubling with each throttling reply in a row ...
    throttle_pause_seconds: float = Field(default=60.0, gt=0)
    #: ... up to this.
    throttle_max_pause_seconds: float = Field(default=1800.0, gt=0)
    #: Delivery attempts before a temporarily failing email is given up (``failed``, in the digest,
    #: ``followup check`` and ``followup outbox retry``). With the defaults below the attempts span
    #: about 3 days: 60 s doubling to 6 h, then every 6 h.
    max_attempts: int = Field(default=21, ge=1, le=100)
    retry_base_seconds: float = Field(default=60.0, gt=0)
    retry_max_seconds: float = Field(default=6 * 3600.0, gt=0)
    #: An email whose SMTP transaction was under way this many times when the sending process
    #: died (kill -9, out of memory, a crash) is given up as the likely cause (``failed``, in the
    #: digest; ``followup outbox retry --failed`` tries it again), so it cannot crash the daemon
    #: in a loop. Clean stops and temporary failures do not count.
    max_interrupted_sends: int = Field(default=5, ge=1)
    #: Circuit breaker: after this many consecutive failures to connect to the relay ...
    breaker_failures: int = Field(default=3, ge=1)
    #: ... stop trying it for this long (emails fail fast as temporary failures and are retried).
    breaker_cooldown_seconds: float = Field(default=300.0, ge=0)


class ImapSettings(_Section):
    #: Empty means: no mailbox is polled (``followup ingest`` still works).
    host: str = ""
    port: int = Field(default=993, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = "tls"
    username: str = ""
    password: SecretStr = SecretStr("")
    verify_tls: bool = True
    ca_file: Path | None = None
    folder: str = "INBOX"
    #: Move processed messages here; empty leaves them where they are.
    processed_folder: str = ""
    poll_seconds: int = Field(default=300, ge=10)
    timeout_seconds: float = Field(default=30.0, gt=0)
    #: The authserv-id your receiving server writes in Authentication-Results; empty trusts the topmost header.
    authserv_id: str = ""


class ScheduleSettings(_Section):
    tick_seconds: int = Field(default=60, ge=5)
    digest_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    digest_hour: int = Field(default=8, ge=0, le=23)
    #: Days before each RCGM meeting on which the meeting round goes out.
    meeting_round_days: tuple[int, ...] = (21, 7)
    meeting_round_kinds: tuple[str, ...] = ("rcgm",)
    send_window_start: time = time(9, 0)
    send_window_end: time = time(17, 0)
    #: The recipients' working week (their public holidays are skipped too); e.g. ``["sun", "mon",
    #: "tue", "wed", "thu"]`` where the week runs Sunday to Thursday.
    working_days: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = Field(
        default=("mon", "tue", "wed", "thu", "fri"), min_length=1
    )
    #: Reminder policy used by commitments that do not name one.
    default_policy: str = "default"
    #: TOML file with named reminder policies; empty means the bundled one.
    policies_file: Path | None = None
    #: How long a claimed outbox row stays ours before another worker may take it.
    lease_seconds: int = Field(default=300, ge=2)
    #: Emails one contact may get in any seven days; past it, due items wait for the next allowed day, merged.
    max_emails_per_week: int = Field(default=2, ge=1)
    #: On SIGTERM/SIGINT, how long running jobs get to finish what is in flight before they are
    #: cancelled (their claims handed back). Keep it below the supervisor's kill timeout
    #: (``docker stop -t``, systemd ``TimeoutStopSec``), or the process is killed before it is clean.
    stop_timeout_seconds: float = Field(default=60.0, gt=0)


class RepliesSettings(_Section):
    #: A confirmation reply moves the item to "confirmed" instead of "submitted".
    count_as_confirmation: bool = False
    acknowledge: bool = True
    acknowledgements_per_sender_per_hour: int = Field(default=3, ge=0)
    #: Messages larger than this are stored whole but read only as far as their headers and
    #: the first 256 KB of their body, which bounds the memory one message takes on ingest.
    max_parse_bytes: int = Field(default=10_000_000, ge=65_536)
    #: Bytes of mail one storing transaction (and one IMAP FETCH) holds at most, besides its 200
    #: messages; a larger message goes alone. Bounds ingest's memory by bytes, whatever mail weighs.
    batch_bytes: int = Field(default=DEFAULT_BATCH_BYTES, ge=65_536)


class DigestSettings(_Section):
    #: Send the weekly digest even when there is nothing to report.
    send_when_empty: bool = False
    upcoming_days: int = Field(default=14, ge=1, le=90)
    #: Overdue items listed one by one for each of the most overdue owners (the oldest first); the
    #: attachment lists every item. 0: counts only.
    items_per_owner: int = Field(default=5, ge=0, le=50)


#: Kinds of upload accepted by default (see :mod:`followup.inbound.sniff`).
DEFAULT_UPLOAD_KINDS = ("pdf", "doc", "docx", "xls", "xlsx", "odt", "ods", "csv", "zip")


class WebSettings(_Section):
    #: Serve the web pages from ``followup run`` too (``followup web`` always serves them).
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    #: Public address of the pages, e.g. ``https://followup.example.org``. Empty: emails carry no links.
    base_url: str = Field(default="", pattern=r"^(https?://[^\s/?#]+(/[^\s?#]*)?)?$")
    #: Addresses of reverse proxies whose X-Forwarded-* headers are honoured (none by default).
    trusted_proxies: tuple[str, ...] = ()
    #: Header a trusted proxy sets to the authenticated user's email (empty: log in with a password).
    proxy_user_header: str = ""
    upload_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    allowed_kinds: tuple[str, ...] = DEFAULT_UPLOAD_KINDS
    #: Where submitted files are kept, content-addressed by SHA-256.
    archive_dir: Path = Path("var/archive")
    #: Days after the due date during which an item's link keeps working.
    link_days: int = Field(default=90, ge=1, le=3650)
    #: Requests allowed per client address (and per item link) per minute, counted in the database
    #: so that every web process shares the limit.
    requests_per_minute: int = Field(default=60, ge=1)
    #: Failed logins allowed per address (and per account) per 15 minutes (shared likewise).
    login_attempts: int = Field(default=5, ge=1)
    session_hours: int = Field(default=12, ge=1, le=24 * 30)


class LogSettings(_Section):
    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///path`` URL; None for another database or an in-memory one."""
    head, sep, rest = url.partition(":///")
    if not sep or head.split("+")[0] != "sqlite":
        return None
    path = rest.split("?")[0]
    return Path(path) if path and path != ":memory:" else None


class Settings(_Section):
    database_url: str = "sqlite:///var/followup.db"
    #: Secret for signing reply tokens. Empty: generated once into ``signing_key_path``.
    signing_secret: SecretStr = SecretStr("")
    #: Where followup keeps files of its own (the signing key). Empty: the SQLite database's
    #: directory, or ``~/.local/share/followup`` with PostgreSQL; never the working directory.
    data_dir: Path | None = None
    #: Empty: ``signing.key`` in the data directory.
    signing_key_path: Path | None = None
    secretariat: SecretariatSettings = SecretariatSettings()
    mail: MailSettings = MailSettings()
    smtp: SmtpSettings = SmtpSettings()
    imap: ImapSettings = ImapSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    replies: RepliesSettings = RepliesSettings()
    digest: DigestSettings = DigestSettings()
    log: LogSettings = LogSettings()
    web: WebSettings = WebSettings()

    @property
    def uses_smtp(self) -> bool:
        return bool(self.smtp.host)

    def data_directory(self) -> Path:
        """Absolute, so that every process of one installation agrees whatever its working directory."""
        if self.data_dir is not None:
            return self.data_dir.expanduser().resolve()
        database = sqlite_file(self.database_url)
        if database is not None:
            return database.expanduser().resolve().parent
        return Path.home() / ".local" / "share" / "followup"

    def signing_key_file(self) -> Path:
        if self.signing_key_path is not None:
            return self.signing_key_path.expanduser().resolve()
        return self.data_directory() / "signing.key"


def _section_fields(model: type[BaseModel]) -> dict[str, type[BaseModel] | None]:
    """Map each field of ``model`` to its nested section model (or None)."""
    out: dict[str, type[BaseModel] | None] = {}
    for name, field in model.model_fields.items():
        ann = field.annotation
        out[name] = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return out


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Turn ``FOLLOWUP_A__B`` (and ``FOLLOWUP_A__B_FILE``) into ``{"a": {"b": ...}}``.

    Variables that name no setting are ignored: the same prefix carries
    unrelated variables (``FOLLOWUP_CONFIG``, test-only URLs).
    """
    top = _section_fields(Settings)
    result: dict[str, Any] = {}
    for key in sorted(environ):
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        value: str = environ[key]
        from_file = False
        if name.endswith("_file") and _resolve(top, name[: -len("_file")]) is not None:
            name = name[: -len("_file")]
            from_file = True
        path = _resolve(top, name)
        if path is None:
            continue
        if from_file:
            try:
                value = Path(value).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{key}={value}: cannot read secret file ({exc.strerror})") from None
        target = result
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    return result


#: ``FOLLOWUP_*`` variables that are read elsewhere (CLI options, paths, tests), not settings.
NON_SETTING_VARIABLES = frozenset(
    {"FOLLOWUP_NOW", "FOLLOWUP_CONFIG", "FOLLOWUP_DEBUG", "FOLLOWUP_HOME", "FOLLOWUP_IMPORT_LEAD_DAYS"}
)
NON_SETTING_PREFIXES = ("FOLLOWUP_TEST_",)


def setting_variable_names() -> list[str]:
    """Every environment variable that names a setting (``FOLLOWUP_SMTP__HOST``...)."""
    names = []
    for section, model in _section_fields(Settings).items():
        if model is None:
            names.append(f"{ENV_PREFIX}{section.upper()}")
        else:
            names += [f"{ENV_PREFIX}{section.upper()}__{leaf.upper()}" for leaf in model.model_fields]
    return names


def unknown_environment(environ: Mapping[str, str] | None = None) -> list[str]:
    """One warning per ``FOLLOWUP_*`` variable that names no setting, with the closest one.

    A TOML typo is refused by validation; an environment typo would
    otherwise be ignored without a word, since the environment also carries
    variables that are not settings (:data:`NON_SETTING_VARIABLES`).
    """
    import difflib

    env = os.environ if environ is None else environ
    top = _section_fields(Settings)
    known = setting_variable_names()
    warnings = []
    for key in sorted(env):
        if not key.startswith(ENV_PREFIX) or key in NON_SETTING_VARIABLES or key.startswith(NON_SETTING_PREFIXES):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if _resolve(top, name) is not None:
            continue
        if name.endswith("_file") and _resolve(top, name[: -len("_file")]) is not None:
            continue
        base = key[: -len("_FILE")] if key.endswith("_FILE") else key
        suffixes = {name[len(ENV_PREFIX) :]: name for name in known}
        close = difflib.get_close_matches(base[len(ENV_PREFIX) :].upper(), list(suffixes), n=1, cutoff=0.7)
        hint = f": did you mean {suffixes[close[0]]}{key[len(base) :]}?" if close else ""
        warnings.append(f"environment variable {key} names no setting, ignored{hint}")
    return warnings


def _resolve(top: dict[str, type[BaseModel] | None], name: str) -> list[str] | None:
    if "__" in name:
        section, _, leaf = name.partition("__")
        model = top.get(section)
        if model is None or leaf not in model.model_fields:
            return None
        return [section, leaf]
    if name in top and top[name] is None:
        return [name]
    return None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _split_lists(data: dict[str, Any]) -> dict[str, Any]:
    """Environment strings for tuple fields arrive as "21,7"; split them."""
    sched = data.get("schedule")
    if isinstance(sched, dict):
        for key in ("meeting_round_days", "meeting_round_kinds", "working_days"):
            if isinstance(sched.get(key), str):
                sched[key] = [p.strip() for p in sched[key].split(",") if p.strip()]
    web = data.get("web")
    if isinstance(web, dict):
        for key in ("trusted_proxies", "allowed_kinds"):
            if isinstance(web.get(key), str):
                web[key] = [p.strip() for p in web[key].split(",") if p.strip()]
    return data


def config_path_from(explicit: Path | None, environ: Mapping[str, str]) -> Path | None:
    """Which TOML file to read: ``--config``, ``FOLLOWUP_CONFIG``, or the default if present."""
    if explicit is not None:
        return explicit
    if environ.get("FOLLOWUP_CONFIG"):
        return Path(environ["FOLLOWUP_CONFIG"])
    if DEFAULT_CONFIG_PATH.is_file():
        return DEFAULT_CONFIG_PATH
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings; raise :class:`ConfigError` naming the key at fault."""
    env = os.environ if environ is None else environ
    path = config_path_from(config_file, env)
    data: dict[str, Any] = _read_toml(path) if path is not None else {}
    data = _merge(data, _env_overrides(env))
    if overrides:
        data = _merge(data, dict(overrides))
    data = _split_lists(data)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None


def _describe(exc: ValidationError, path: Path | None) -> str:
    """One line per bad key: ``smtp.port = 'abc': expected ...``."""
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown setting {key!r}" + (f" in {path}" if path else ""))
            continue
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = "expected " + msg[len("Value error, ") :]
        shown = "<secret>" if "password" in key or "secret" in key else repr(err.get("input"))
        lines.append(f"setting {key} = {shown}: {msg}")
    return "; ".join(lines)
