"""Rows of the plan table to items that know their subject and objective.

A page break repeats the header and starts the subject again as "MIGRATION
POLICIES AND MANAGEMENT (continued)"; rows that carry on an objective leave
the first cells empty. Some exports also push an activity into the subject
column: a long sentence there is an item of the current subject, not a new
subject. Objectives are goals, not promises, so their text is not scanned.
"""

from __future__ import annotations

from dataclasses import dataclass

from followup.planimport.cleaning import heading_text, looks_like_heading, objective_parts, split_items
from followup.planimport.reading import COLUMNS, PlanTable

SCANNED_COLUMNS = (2, 3, 4)


@dataclass(frozen=True)
class PlanItem:
    subject: str
    objective: str  # the objective's number ("3"), or "" when the plan gives none
    column: str
    text: str
    emphasised: bool
    line: int
    location: str


def plan_items(table: PlanTable) -> list[PlanItem]:
    """Every item of the scanned columns, in document order, with its subject and objective."""
    items: list[PlanItem] = []
    subject = ""
    objective = ""
    for row in table.rows:
        heading, continued = heading_text(row.cells[0])
        stray: list[tuple[str, bool]] = []
        if heading and looks_like_heading(heading):
            if heading.upper() != subject.upper():
                subject = heading
                if not continued:
                    objective = ""
        elif heading:
            stray = [(i.text, i.emphasised) for i in split_items(row.cells[0])]
        number, text = objective_parts(row.cells[1])
        if number:
            objective = number
        elif text:
            objective = ""
        for text, emphasised in stray:
            items.append(PlanItem(subject, objective, COLUMNS[0], text, emphasised, row.line, row.location))
        for column in SCANNED_COLUMNS:
            for item in split_items(row.cells[column]):
                items.append(
                    PlanItem(subject, objective, COLUMNS[column], item.text, item.emphasised, row.line, row.location)
                )
    return items
