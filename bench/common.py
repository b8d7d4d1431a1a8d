"""What every benchmark shares: settings pointing at the sink, results, medians."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from followup.settings import Settings, load_settings

SIGNING_SECRET = "bench-signing-secret-0123456789abcdef"
Log = Callable[[str], None]


def bench_settings(workdir: Path, database: Path, smtp_port: int, **overrides: Mapping[str, Any]) -> Settings:
    """The defaults, plus the database, the sink (no TLS) and a fixed signing secret.

    An empty TOML file is named explicitly so that no ``config/followup.toml``
    or ``FOLLOWUP_*`` variable of the machine changes what is measured.
    """
    config = workdir / "bench.toml"
    config.write_text("", encoding="utf-8")
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{database}",
        "signing_secret": SIGNING_SECRET,
        "signing_key_path": str(workdir / "signing.key"),
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none"},
        "mail": {"maildir": str(workdir / "maildir")},
        "web": {"archive_dir": str(workdir / "archive")},
    }
    for section, more in overrides.items():
        values[section] = {**values.get(section, {}), **more}
    return load_settings(config, environ={}, overrides=values)


@dataclass
class Figure:
    """One line of the summary table."""

    benchmark: str
    measure: str
    value: str
    #: Whether the line's target is met (None: the line has no target).
    ok: bool | None = None
    note: str = ""


@dataclass
class Outcome:
    """What a benchmark reports: its lines for the summary table, and whether every target was met."""

    name: str
    figures: list[Figure] = field(default_factory=list)

    @property
    def met(self) -> bool:
        return all(f.ok is not False for f in self.figures)


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> str:
    """``min-max`` of the runs, so a reader sees how stable a median is."""
    if len(values) < 2:
        return ""
    return f"runs {min(values):.3g}-{max(values):.3g}"
