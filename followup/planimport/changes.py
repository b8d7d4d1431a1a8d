"""What a re-import adds, changes and drops compared with the previous file.

The previous file is the one the officer reviewed (``--previous``, or the
``--out`` file about to be replaced). Items are matched by id, which
:mod:`.naming` keeps stable across editions, so a moved deadline shows up as
"changed (due)" rather than as one item gone and another new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from followup.errors import ImportPlanError
from followup.planimport.emit import commitment_mapping, meeting_mapping
from followup.planimport.extract import ImportResult


@dataclass
class Changes:
    new: list[str] = field(default_factory=list)
    changed: list[tuple[str, list[str]]] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def any(self) -> bool:
        return bool(self.new or self.changed or self.gone)


@dataclass
class Comparison:
    commitments: Changes
    meetings: Changes


def _plain(value: Any) -> Any:
    """Dates as ISO strings, so a hand-edited file compares equal to a generated one."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def read_previous(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """The commitments and meetings of a previous data file, by id."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ImportPlanError(f"{path}: previous file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportPlanError(f"{path}: cannot read the previous file: {exc}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ImportPlanError(f"{path}: the previous file is not valid YAML: {str(exc).splitlines()[0]}") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ImportPlanError(f"{path}: the previous file is not a data file (expected commitments and meetings)")
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for section in ("commitments", "meetings"):
        items = doc.get(section) or []
        if not isinstance(items, list):
            raise ImportPlanError(f"{path}: '{section}' in the previous file is not a list")
        out[section] = {
            str(item["id"]): _plain(item) for item in items if isinstance(item, dict) and item.get("id") is not None
        }
    return out


def _comparable(mapping: dict[str, Any]) -> dict[str, Any]:
    """A mapping without the source document's name, which every new edition changes."""
    source = mapping.get("source")
    if isinstance(source, dict) and "document" in source:
        mapping = {**mapping, "source": {k: v for k, v in source.items() if k != "document"}}
    return mapping


def _compare(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> Changes:
    changes = Changes()
    before = {key: _comparable(m) for key, m in before.items()}
    for key, mapping in after.items():
        mapping = _comparable(mapping)
        old = before.get(key)
        if old is None:
            changes.new.append(key)
            continue
        fields = sorted(k for k in set(old) | set(mapping) if old.get(k) != mapping.get(k))
        if fields:
            changes.changed.append((key, fields))
        else:
            changes.unchanged += 1
    changes.gone = [key for key in before if key not in after]
    return changes


def compare(previous: dict[str, dict[str, dict[str, Any]]], result: ImportResult) -> Comparison:
    commitments = {p.record.id: _plain(commitment_mapping(p.record)) for p in result.commitments}
    meetings = {m.id: _plain(meeting_mapping(m)) for m in result.meetings}
    return Comparison(
        _compare(previous.get("commitments", {}), commitments),
        _compare(previous.get("meetings", {}), meetings),
    )
