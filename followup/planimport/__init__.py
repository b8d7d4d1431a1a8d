"""Turning a plan-of-action table into reviewable commitments.

The secretariat's plan of action is a five-column table (subjects,
objectives, actions, activities, calendar) exported as text, Word or CSV. It
mixes records of what happened with promises of what will happen; only the
promises with a deadline become commitments. The pipeline is a chain of pure
steps, one module each:

- :mod:`.reading`: a file (txt, docx, csv) to raw rows and the text around them;
- :mod:`.cleaning`: cell markup and typography to clean items;
- :mod:`.layout`: continuation rows to items that know their subject and objective;
- :mod:`.dates` and :mod:`.owners`: date phrases and who is named;
- :mod:`.obligations`: which sentence promises what, by whom, by when;
- :mod:`.meetings`: the meetings a deadline points at;
- :mod:`.naming`: stable ids and readable titles;
- :mod:`.extract`: all of the above into proposed commitments;
- :mod:`.review`: what a person should check, and how sure we are;
- :mod:`.changes`: what a re-import adds, changes and drops;
- :mod:`.emit`: the data file that ``followup load`` reads.
"""

from __future__ import annotations

from followup.planimport.extract import ImportResult, Proposal, Unscheduled, extract_plan, import_plan

__all__ = ["ImportResult", "Proposal", "Unscheduled", "extract_plan", "import_plan"]
