"""The bundled RCM demo data set, moved in time so that it is alive today.

The demo files (``config/demo/*.yaml``) describe the RCM plan of action as the
Technical Secretariat saw it on :data:`SCENARIO_DATE`, Monday 30 October 2006:
the RCGM of San Salvador (27-29 November 2006) four weeks ahead, country input
for IOM's comparative matrix due that day (four weeks before the RCGM), papers
for the RCGM due in two weeks, and the integration matrix (15 August), the
migration profile (August) and older items overdue. Dates in 2006 would make
every reminder overdue, so ``followup demo`` replays that scenario around the
day it runs: :func:`shift_demo` moves the data set so that :data:`SCENARIO_DATE`
falls on ``today``.

How dates move
--------------
Day dates (day-precision due dates, meeting start and end) move by the same
number of days, ``today - SCENARIO_DATE``. This keeps every interval exact:
"due today", "due in two weeks", "RCGM in four weeks" and the gap between a
network meeting and the RCGM it precedes hold for any ``today``, leap days
and year ends included. Meeting-relative rules name meetings by id or kind
and an offset in days, so they follow the meetings with nothing to change.

Month-precision due dates ("by November 2006") must stay month-precision: a
month moved by a number of days would land mid-month and claim a precision
the plan never gave. They move by a whole number of months instead, the same
number for all of them so that their order and spacing survive; they stay on
the last day of their month. That number is chosen so that the end of the
scenario month (31 October 2006) lands on the month end nearest to where the
day shift takes it. The price is that a month-precision date may end up to
about half a month earlier or later, relative to the day dates, than in the
scenario; the demo's promises ("due today", "in two weeks", "overdue", "RCGM
in four weeks") therefore rest on day dates and meetings only.

Recurring rules anchored on a month end ("end of January and end of July")
move by the same whole months, so their occurrences stay on month ends;
other anchors move by days. ``until`` moves with its anchor, so a rule never
ends before it starts.

The input is not changed: records are frozen and a new :class:`DataSet` is
returned. Ids do not change, so running the demo again on another day
updates the same rows (the demo files keep dates out of ids and titles).
"""

from __future__ import annotations

import calendar
import dataclasses
from datetime import date, timedelta
from pathlib import Path

from followup.clock import add_months
from followup.errors import NotFoundError
from followup.paths import config_dir
from followup.store.dataset import CommitmentRecord, DataSet, DueRule, MeetingRecord

#: The day in the demo's story that ``followup demo`` maps onto today.
SCENARIO_DATE = date(2006, 10, 30)

#: Load order: parties before the contacts that name them, meetings before the
#: commitments that refer to them. Other YAML files in the folder follow.
DEMO_FILE_ORDER = ("countries.yaml", "organisations.yaml", "contacts.yaml", "meetings.yaml", "commitments.yaml")


def demo_dir(override: Path | None = None) -> Path:
    """The folder holding the demo data files.

    ``override`` lets callers (tests, a packaged install that ships the files
    elsewhere) name the folder explicitly; no environment variable is read.
    """
    if override is not None:
        return override
    return config_dir() / "demo"


def demo_files(directory: Path | None = None) -> list[Path]:
    """The demo's YAML files in load order; an empty or missing folder is an error."""
    folder = demo_dir(directory)
    found = sorted(p for p in folder.glob("*.yaml") if p.is_file()) if folder.is_dir() else []
    if not found:
        raise NotFoundError(f"no demo data files (*.yaml) in {folder}")
    rank = {name: i for i, name in enumerate(DEMO_FILE_ORDER)}
    return sorted(found, key=lambda p: (rank.get(p.name, len(rank)), p.name))


def shift_demo(data: DataSet, today: date) -> DataSet:
    """Move every date of ``data`` so that :data:`SCENARIO_DATE` becomes ``today``.

    See the module docstring for how day dates, month-precision dates and
    recurrence anchors move, and why.
    """
    days = (today - SCENARIO_DATE).days
    months = month_shift(days)
    return DataSet(
        parties=list(data.parties),
        contacts=list(data.contacts),
        meetings=[_shift_meeting(m, days) for m in data.meetings],
        commitments=[_shift_commitment(c, days, months) for c in data.commitments],
        files=list(data.files),
    )


def month_shift(days: int) -> int:
    """Whole months that best stand in for a shift of ``days`` days.

    The end of the scenario month, moved by ``days``, lands somewhere in a
    month; we take whichever month end is nearer, the one before or the one
    after (the later one on a tie), and count the months to it.
    """
    reference = _month_end(SCENARIO_DATE.year, SCENARIO_DATE.month)
    target = reference + timedelta(days=days)
    after = _month_end(target.year, target.month)
    before = target.replace(day=1) - timedelta(days=1)
    chosen = after if (after - target) <= (target - before) else before
    return (chosen.year * 12 + chosen.month) - (reference.year * 12 + reference.month)


def _shift_meeting(meeting: MeetingRecord, days: int) -> MeetingRecord:
    delta = timedelta(days=days)
    return dataclasses.replace(meeting, start=meeting.start + delta, end=meeting.end + delta)


def _shift_commitment(commitment: CommitmentRecord, days: int, months: int) -> CommitmentRecord:
    return dataclasses.replace(commitment, due=_shift_rule(commitment.due, days, months))


def _shift_rule(rule: DueRule, days: int, months: int) -> DueRule:
    delta = timedelta(days=days)
    if rule.kind == "date" and rule.on is not None:
        if rule.precision == "month":
            return dataclasses.replace(rule, on=add_months(rule.on, months))
        return dataclasses.replace(rule, on=rule.on + delta)
    if rule.kind == "recurring" and rule.anchor is not None:
        if _is_month_end(rule.anchor):
            until = add_months(rule.until, months) if rule.until is not None else None
            return dataclasses.replace(rule, anchor=add_months(rule.anchor, months), until=until)
        until = rule.until + delta if rule.until is not None else None
        return dataclasses.replace(rule, anchor=rule.anchor + delta, until=until)
    # Meeting-relative rules hold no dates: they follow their meetings.
    return rule


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _is_month_end(day: date) -> bool:
    return day == _month_end(day.year, day.month)
