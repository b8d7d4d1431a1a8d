"""Reminder policies: the steps, relative to a due date, at which focal points hear from us.

Policies live in a TOML file (the bundled ``config/policies.toml`` unless
``schedule.policies_file`` names another) so the secretariat can change its
rhythm without a release. A step's key (``"-14d"``, ``"+8d"``) is written into
outbox dedupe keys, which is why keys are derived from the offset alone: the
same day always means the same step, however the file is reordered.

Everything here is validated when loaded, so the planner never meets a policy
it cannot follow; a problem is reported as one line naming the file, the policy
and the step.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from followup.errors import ConfigError
from followup.paths import config_dir
from followup.settings import ScheduleSettings

#: The bundled policies, next to the package in the source tree and the image.
BUNDLED_POLICIES = config_dir() / "policies.toml"

#: Notification kinds a policy step may have (a subset of vocabulary.NOTIFICATION_KINDS).
STEP_KINDS = ("reminder", "due_today", "overdue", "escalation")

#: Offsets beyond a year are certainly typos ("-140d" meant "-14d").
MAX_OFFSET_DAYS = 366
DEFAULT_CATCH_UP_DAYS = 7

_OFFSET = re.compile(r"^([+-]?)(\d{1,3})d$")
_STEP_FIELDS = frozenset({"at", "kind", "cc_alternate", "cc_secretariat"})
_POLICY_FIELDS = frozenset({"description", "catch_up_days", "steps", "repeat"})
_REPEAT_FIELDS = frozenset({"after", "every_days", "times"})


@dataclass(frozen=True)
class Step:
    """One point in a policy; ``ordinal`` counts steps of the same kind (second reminder...)."""

    key: str
    offset_days: int
    kind: str
    ordinal: int
    cc_alternate: bool = False
    cc_secretariat: bool = False

    @property
    def before_due(self) -> bool:
        return self.offset_days < 0


@dataclass(frozen=True)
class Policy:
    name: str
    #: Sorted by offset; keys are unique.
    steps: tuple[Step, ...]
    #: How stale a step may be and still be sent after downtime.
    catch_up_days: int = DEFAULT_CATCH_UP_DAYS
    description: str = ""

    @property
    def lead_days(self) -> int:
        """How many days before the due date the first step fires (0 if none does)."""
        return max([0, *(-s.offset_days for s in self.steps)])

    @property
    def horizon_days(self) -> int:
        """How many days after the due date the last step fires: the overdue horizon."""
        return max([0, *(s.offset_days for s in self.steps)])

    def step(self, key: str) -> Step:
        for s in self.steps:
            if s.key == key:
                return s
        raise KeyError(key)


def step_key(offset_days: int) -> str:
    """The stable key of the step at ``offset_days``: ``-14d``, ``0d``, ``+8d``."""
    return "0d" if offset_days == 0 else f"{offset_days:+d}d"


def parse_offset(text: str) -> int:
    """``"-14d"`` -> -14; raise ValueError for anything else."""
    match = _OFFSET.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not an offset such as -14d, 0d or +7d")
    value = int(match.group(2))
    return -value if match.group(1) == "-" else value


def max_lead_days(policies: Mapping[str, Policy]) -> int:
    """The earliest any policy fires before a due date (bounds the planner's query)."""
    return max((p.lead_days for p in policies.values()), default=0)


def max_reach_days(policies: Mapping[str, Policy]) -> int:
    """The latest after a due date that any policy may still send (horizon plus catch-up)."""
    return max((p.horizon_days + p.catch_up_days for p in policies.values()), default=0)


def load_policies(path: Path | None = None) -> dict[str, Policy]:
    """Read and validate every policy in ``path`` (the bundled file when None)."""
    source = BUNDLED_POLICIES if path is None else path
    try:
        with source.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"reminder policies file {source} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"reminder policies file {source}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"reminder policies file {source}: {exc.strerror}") from None
    return parse_policies(data, str(source))


def load_schedule_policies(schedule: ScheduleSettings) -> dict[str, Policy]:
    """The policies the settings name, checked to contain the default policy (for start-up and ``check``)."""
    policies = load_policies(schedule.policies_file)
    if schedule.default_policy not in policies:
        source = schedule.policies_file or BUNDLED_POLICIES
        raise ConfigError(f"schedule.default_policy = {schedule.default_policy!r} is not defined in {source}")
    return policies


def parse_policies(data: Mapping[str, Any], source: str = "policies") -> dict[str, Policy]:
    """Validate the decoded TOML; ``source`` names the file in error messages."""
    unknown = sorted(set(data) - {"policies"})
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key {unknown[0]!r} (policies go under [policies.NAME])")
    tables = data.get("policies")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"{source}: no policies defined (expected [policies.NAME] tables)")
    result: dict[str, Policy] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: policy {name!r} must be a table")
        result[name] = _parse_policy(name, table, source)
    return result


def policy_for(policies: Mapping[str, Policy], name: str | None, default: str) -> Policy:
    """The policy a commitment asked for (or the default), or a ConfigError naming the gap."""
    wanted = name or default
    try:
        return policies[wanted]
    except KeyError:
        known = ", ".join(sorted(policies)) or "none"
        raise ConfigError(f"reminder policy {wanted!r} is not defined (known: {known})") from None


def _parse_policy(name: str, table: Mapping[str, Any], source: str) -> Policy:
    where = f"{source}: policy {name!r}"

    def fail(message: str) -> ConfigError:
        return ConfigError(f"{where}: {message}")

    unknown = sorted(set(table) - _POLICY_FIELDS)
    if unknown:
        raise fail(f"unknown key {unknown[0]!r} (expected one of {', '.join(sorted(_POLICY_FIELDS))})")
    description = table.get("description", "")
    if not isinstance(description, str):
        raise fail("description must be a string")
    catch_up = table.get("catch_up_days", DEFAULT_CATCH_UP_DAYS)
    if not isinstance(catch_up, int) or isinstance(catch_up, bool) or not 0 <= catch_up <= MAX_OFFSET_DAYS:
        raise fail(f"catch_up_days must be a whole number of days from 0 to {MAX_OFFSET_DAYS}")
    raw_steps = table.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise fail('steps must be a non-empty list such as [{ at = "-3d", kind = "reminder" }]')

    explicit: dict[int, tuple[str, bool, bool]] = {}
    for index, raw in enumerate(raw_steps, start=1):
        offset, kind, cc_alt, cc_sec = _parse_step(raw, f"{where}, step {index}")
        if offset in explicit:
            raise ConfigError(f"{where}, step {index} ({step_key(offset)}): two steps on the same day")
        explicit[offset] = (kind, cc_alt, cc_sec)

    planned = dict(explicit)
    if "repeat" in table:
        for offset, spec in _expand_repeat(table["repeat"], explicit, f"{where}, repeat").items():
            planned.setdefault(offset, spec)

    counts: dict[str, int] = {}
    steps: list[Step] = []
    for offset in sorted(planned):
        kind, cc_alt, cc_sec = planned[offset]
        counts[kind] = counts.get(kind, 0) + 1
        steps.append(Step(step_key(offset), offset, kind, counts[kind], cc_alt, cc_sec))
    return Policy(name=name, steps=tuple(steps), catch_up_days=catch_up, description=description)


def _parse_step(raw: Any, where: str) -> tuple[int, str, bool, bool]:
    if not isinstance(raw, dict):
        raise ConfigError(f'{where}: a step must be a table such as {{ at = "-3d", kind = "reminder" }}')
    at = raw.get("at")
    label = f"{where} ({at})" if isinstance(at, str) else where
    unknown = sorted(set(raw) - _STEP_FIELDS)
    if unknown:
        raise ConfigError(f"{label}: unknown key {unknown[0]!r} (expected one of {', '.join(sorted(_STEP_FIELDS))})")
    if at is None:
        raise ConfigError(f'{where}: missing "at" (e.g. at = "-3d")')
    try:
        offset = parse_offset(at)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if abs(offset) > MAX_OFFSET_DAYS:
        raise ConfigError(f"{label}: more than {MAX_OFFSET_DAYS} days from the due date")
    kind = raw.get("kind")
    if kind not in STEP_KINDS:
        raise ConfigError(f"{label}: kind {kind!r} is not one of {', '.join(STEP_KINDS)}")
    if kind == "reminder" and offset >= 0:
        raise ConfigError(f"{label}: a reminder must come before the due date (use due_today or overdue)")
    if kind == "due_today" and offset != 0:
        raise ConfigError(f'{label}: a due_today step must be at "0d"')
    if kind in ("overdue", "escalation") and offset <= 0:
        raise ConfigError(f"{label}: an {kind} step must come after the due date")
    flags: list[bool] = []
    for flag in ("cc_alternate", "cc_secretariat"):
        value = raw.get(flag, False)
        if not isinstance(value, bool):
            raise ConfigError(f"{label}: {flag} must be true or false")
        flags.append(value)
    return offset, kind, flags[0], flags[1]


def _expand_repeat(
    raw: Any, explicit: Mapping[int, tuple[str, bool, bool]], where: str
) -> dict[int, tuple[str, bool, bool]]:
    """Turn ``{after, every_days, times}`` into concrete offsets copying the repeated step."""
    if not isinstance(raw, dict):
        raise ConfigError(f'{where}: must be a table such as {{ after = "+1d", every_days = 7, times = 4 }}')
    unknown = sorted(set(raw) - _REPEAT_FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (expected after, every_days, times)")
    try:
        after = parse_offset(raw.get("after", ""))
    except ValueError as exc:
        raise ConfigError(f"{where}: after: {exc}") from None
    if after not in explicit or explicit[after][0] != "overdue":
        raise ConfigError(f"{where}: after = {step_key(after)!r} must name an overdue step of this policy")
    every = _count(raw.get("every_days"), f"{where}: every_days")
    times = _count(raw.get("times"), f"{where}: times")
    last = after + every * times
    if last > MAX_OFFSET_DAYS:
        raise ConfigError(f"{where}: the last repeat ({step_key(last)}) is more than {MAX_OFFSET_DAYS} days out")
    return {after + every * n: explicit[after] for n in range(1, times + 1)}


def _count(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{where} must be a whole number of at least 1")
    return value
