"""The reviewable data file that ``followup load`` reads.

Each proposal is written in the load format with its doubts as ``# review:``
comments just above it, so the officer edits one file and loads it. The
promises the plan gives no date for are listed in a comment block at the end:
adding a ``due`` and moving one into ``commitments`` is all it takes to track
it. The file is written atomically (temporary file, then rename) so that a
failed run never leaves half a file where the previous one was.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from followup.planimport.extract import NO_DATE, ImportResult, Unscheduled
from followup.store.dataset import CommitmentRecord, DueRule, MeetingRecord, SourceRef, Text

ALL_MEMBERS = "all-members"


def due_mapping(rule: DueRule) -> dict[str, Any]:
    """A due rule as the load format writes it."""
    if rule.kind == "date" and rule.on is not None:
        if rule.precision == "month":
            return {"month": f"{rule.on.year:04d}-{rule.on.month:02d}"}
        return {"date": rule.on.isoformat()}
    if rule.kind == "meeting" and rule.meeting_id:
        return {"meeting": rule.meeting_id, **({"days": rule.days_before} if rule.days_before else {})}
    if rule.kind == "meeting" and rule.meeting_kind:
        return {"before_meeting": rule.meeting_kind, "days": rule.days_before}
    if rule.kind == "recurring" and rule.every_months and rule.anchor is not None:
        out: dict[str, Any] = {"every_months": rule.every_months, "from": rule.anchor.isoformat()}
        if rule.until is not None:
            out["until"] = rule.until.isoformat()
        return out
    raise ValueError(f"due rule {rule!r} cannot be written")


def _text(value: Text) -> str | dict[str, str]:
    return {"en": value.en, "es": value.es} if value.es else value.en


def commitment_mapping(record: CommitmentRecord) -> dict[str, Any]:
    out = _proposal_mapping(record.id, record.title, record.description, record.owners_all_members, record.owners)
    out["due"] = due_mapping(record.due)
    if record.policy:
        out["policy"] = record.policy
    if record.status:
        out["status"] = record.status
    out["source"] = _source_mapping(record.source)
    return out


def undated_mapping(item: Unscheduled) -> dict[str, Any]:
    """An undated proposal: a commitment but for its ``due``, which the reviewer chooses."""
    out = _proposal_mapping(item.id, item.title, item.description, item.owners_all_members, item.owners)
    if item.source is not None:
        out["source"] = _source_mapping(item.source)
    return out


def _proposal_mapping(
    key: str, title: Text, description: Text, all_members: bool, owners: tuple[str, ...]
) -> dict[str, Any]:
    return {
        "id": key,
        # The Spanish title is always there, empty when the plan gives none: a reviewer fills it in.
        "title": {"en": title.en, "es": title.es},
        "description": _text(description),
        "owners": ALL_MEMBERS if all_members else list(owners),
    }


def _source_mapping(source: SourceRef) -> dict[str, str]:
    return {"document": source.document, "subject": source.subject, "objective": source.objective, "text": source.text}


def meeting_mapping(record: MeetingRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": record.id,
        "kind": record.kind,
        "title": _text(record.title),
        "start": record.start.isoformat(),
        "end": record.end.isoformat(),
    }
    if record.place:
        out["place"] = record.place
    return out


def _dump(value: Any, *, flow: bool = False) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=100, default_flow_style=flow).strip()


def _item(mapping: dict[str, Any], comments: list[str]) -> list[str]:
    """One list entry, "  - key: value" style, with its comments above it."""
    lines = [f"  # review: {c}" for c in comments]
    body: list[str] = []
    for key, value in mapping.items():
        if key == "due" or (key == "owners" and isinstance(value, list)):
            body.append(f"{key}: {_dump(value, flow=True)}")
        else:
            body.extend(_dump({key: value}).splitlines())
    lines.append(f"  - {body[0]}")
    lines.extend(f"    {line}" for line in body[1:])
    return lines


def render(result: ImportResult, *, comments: dict[str, list[str]] | None = None) -> str:
    """The data file's text. ``comments`` maps a commitment id to its review notes."""
    comments = comments or {}
    out = [
        f"# Commitments proposed by `followup import-plan` from {result.document}.",
        "# Check every item marked 'review:', edit freely (ids stay stable on re-import), then `followup load`.",
    ]
    if result.meetings:
        out.append("")
        out.append("meetings:")
        for meeting in result.meetings:
            out.extend(_item(meeting_mapping(meeting), []))
    out.append("")
    if result.commitments:
        out.append("commitments:")
        for proposal in result.commitments:
            out.extend(_item(commitment_mapping(proposal.record), comments.get(proposal.record.id, [])))
            out.append("")
    else:
        out.append("commitments: []")
        out.append("")
    if result.unscheduled:
        out.append("# Promises the plan gives no usable date for: not tracked until each has a due rule.")
        out.append("# To track one, add a line such as `due: {date: 2026-10-30}` to it (it may stay here).")
        out.append("undated:")
        for item in result.unscheduled:
            why = "no date: choose one" if item.reason == NO_DATE else f"no date: choose one ({item.reason})"
            out.extend(_item(undated_mapping(item), [why, *item.notes]))
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
