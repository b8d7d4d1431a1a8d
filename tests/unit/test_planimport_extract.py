"""From a small plan table to proposals, meetings, review notes, the data file and the diff."""

from __future__ import annotations

from datetime import date

from followup.planimport.changes import compare
from followup.planimport.emit import commitment_mapping, render
from followup.planimport.extract import ImportResult, extract_plan
from followup.planimport.naming import make_id, sentence_case, subject_code
from followup.planimport.reading import COLUMNS, read_text_table
from followup.planimport.review import describe_due, review_rows
from followup.store.datafile import parse_yaml_text

HEADER = "\t".join(COLUMNS)
NOTES = [
    "PLAN OF ACTION",
    "Updated by Regional Consultation Group on Migration (RCGM)",
    "Tegucigalpa, Honduras, 4-6 June 2007",
    "1. Updated by the Technical Secretariat as of June 2007",
]


def plan(*rows: str, notes: list[str] | None = None) -> str:
    return "\n".join([*(NOTES if notes is None else notes), HEADER, *rows]) + "\n"


def extract(text: str, today: date = date(2007, 5, 1), lead_days: int = 14) -> ImportResult:
    return extract_plan(read_text_table(text, "plan.txt"), today=today, lead_days=lead_days)


def test_a_month_meeting_resolves_to_the_meeting_the_header_names() -> None:
    result = extract(plan("BORDERS\t1. COOPERATION\t\tREVIEW THE GUIDELINES (RCGM, JUNE 2007)\t"))
    [proposal] = result.commitments
    assert commitment_mapping(proposal.record)["due"] == {"meeting": "rcgm-2007-06"}
    [meeting] = result.meetings
    assert (meeting.id, meeting.start, meeting.end, meeting.place) == (
        "rcgm-2007-06",
        date(2007, 6, 4),
        date(2007, 6, 6),
        "Tegucigalpa, Honduras",
    )
    assert meeting.title.en == "RCGM meeting, 4-6 June 2007"


def test_a_meeting_with_days_in_another_row() -> None:
    text = plan(
        "BORDERS\t1. COOPERATION\t\tBELIZE WILL PRESENT A STUDY (RCM, OCTOBER 2007)\t",
        "\t\t\tAGENDA ITEM FOR THE RCM, OCTOBER 22-23, 2007\t",
        notes=[],
    )
    [proposal] = extract(text).commitments
    assert proposal.record.due.meeting_id == "rcm-2007-10"


def test_a_meeting_the_plan_gives_no_days_for_is_due_at_the_end_of_its_month() -> None:
    [proposal] = extract(plan("B\t1. C\t\tBELIZE WILL PRESENT A STUDY (RCM, OCTOBER 2007)\t")).commitments
    assert commitment_mapping(proposal.record)["due"] == {"month": "2007-10"}
    assert any("no days for the RCM meeting of October 2007" in n for n in proposal.notes)
    assert proposal.confidence < 1


def test_recurring_items_start_one_period_after_the_edition() -> None:
    [proposal] = extract(plan("B\t1. C\t\tIOM WILL UPDATE THE MATRIX QUARTERLY\t")).commitments
    assert commitment_mapping(proposal.record)["due"] == {"every_months": 3, "from": "2007-09-30"}


def test_lead_days_for_each_meeting() -> None:
    text = plan("B\t1. C\t\tBEFORE EACH RCGM MEETING, COUNTRIES WILL SEND THEIR REPORTS\t")
    [proposal] = extract(text, lead_days=21).commitments
    assert commitment_mapping(proposal.record)["due"] == {"before_meeting": "rcgm", "days": 21}
    assert any("21 days" in n for n in proposal.notes)


def test_italic_and_bold_mean_active() -> None:
    text = plan(
        "B\t1. C\t\t<i>BELIZE WILL SEND DATA BY MAY 2007</i> **PANAMA WILL SEND DATA BY JUNE 2007** "
        "MEXICO WILL SEND DATA BY JULY 2007\t"
    )
    status = {p.record.owners: p.record.status for p in extract(text).commitments}
    assert status == {("BZ",): "active", ("PA",): "active", ("MX",): ""}


def test_owner_forms_become_load_format_owners() -> None:
    text = plan(
        "B\t1. C\t\tMEMBER COUNTRIES WILL SEND DATA BY MAY 2007.\t",
        "\t2. D\t\tEL SALVADOR AND IOM WILL SEND DATA BY MAY 2007.\t",
        "\t3. E\t\tINTERESTED COUNTRIES WILL SEND DATA BY MAY 2007.\t",
        "\t4. F\t\tCOUNTRIES AND UNHCR WILL SEND DATA BY MAY 2007.\t",
        "\t5. G\t\tSEND DATA BY MAY 2007.\t",
    )
    by_objective = {p.record.source.objective: p for p in extract(text).commitments}
    owners = {k: commitment_mapping(p.record)["owners"] for k, p in by_objective.items()}
    assert owners["1"] == "all-members"
    assert owners["2"] == ["SV", "IOM"]
    assert owners["3"] == "all-members"
    assert owners["4"] == ["BZ", "CA", "CR", "DO", "SV", "GT", "HN", "MX", "NI", "PA", "US", "UNHCR"]
    assert owners["5"] == "all-members"
    assert any("owner unclear (interested countries)" in n for n in by_objective["3"].notes)
    assert any("owner not stated" in n for n in by_objective["5"].notes)
    assert by_objective["1"].notes == ()


def test_ids_survive_a_new_date_a_typo_fix_and_new_italics() -> None:
    before = extract(plan("MIGRATION AND HEALTH\t4. C\t\tANALIZE THE DATA (OCTOBER 2007)\t"))
    after = extract(plan("MIGRATION AND HEALTH\t4. C\t\t<i>ANALYZE THE DATA (DECEMBER 2007)</i>\t"))
    assert before.commitments[0].record.id == after.commitments[0].record.id == "mh-4-analyze-data"
    assert after.commitments[0].record.title.en == "Analyze the data"


def test_id_collisions_get_a_longer_id() -> None:
    taken: set[str] = set()
    assert make_id("HUMAN RIGHTS", "2", "SEND THE REPORT ON A B C D", taken) == "hr-2-send-report-b-c-d"
    assert make_id("HUMAN RIGHTS", "2", "SEND THE REPORT ON A B C D F", taken) == "hr-2-send-report-b-c-d-f"
    assert make_id("HUMAN RIGHTS", "2", "SEND THE REPORT ON A B C D", taken) == "hr-2-send-report-b-c-d-2"
    assert subject_code("LINK BETWEEN DEVELOPMENT AND MIGRATION") == "lbdm"


def test_the_same_promise_twice_is_proposed_once() -> None:
    text = plan("B\t1. C\t\tBELIZE WILL SEND DATA BY MAY 2007\t", "\t\t\tBELIZE WILL SEND DATA BY MAY 2007\t")
    assert len(extract(text).commitments) == 1


def test_sentence_case_keeps_acronyms_and_countries() -> None:
    assert sentence_case("EL SALVADOR AND IOM WILL SEND IT TO THE TS BY NOVEMBER") == (
        "El Salvador and IOM will send it to the TS by November"
    )
    assert sentence_case("Already in mixed case") == "Already in mixed case"


def test_review_adds_past_deadlines_from_today() -> None:
    text = plan("B\t1. C\t\tBELIZE WILL SEND DATA BY 15 MARCH 2007. IOM WILL REPORT SEMI-ANNUALLY\t")
    result = extract(text)
    rows = {r.id: r for r in review_rows(result, date(2008, 1, 10))}
    send = next(r for r in rows.values() if r.owner == "BZ")
    assert "due 2007-03-15 is past (today 2008-01-10)" in send.review
    report = next(r for r in rows.values() if r.owner == "IOM")
    assert any(n.startswith("recurs since 2007-12-31") for n in report.review)
    assert review_rows(result, date(2007, 1, 1))[0].review == ()


def test_describe_due() -> None:
    result = extract(
        plan(
            "B\t1. C\t\tBELIZE WILL SEND DATA BY 15 MARCH 2007. PANAMA WILL SEND DATA BY MAY 2007. "
            "CANADA WILL PRESENT IT DURING RCGM, 4-6 JUNE 2007. "
            "ONE DAY PRIOR TO EACH MEETING OF THE RCGM, MEXICO WILL SEND A NOTE\t"
        )
    )
    meetings = {m.id: m for m in result.meetings}
    described = [describe_due(p.record.due, meetings) for p in result.commitments]
    assert described == [
        "2007-03-15",
        "by end of 2007-05",
        "at rcgm-2007-06 (2007-06-04)",
        "1 day before each RCGM",
    ]


def test_rendered_file_is_valid_load_input_with_review_comments() -> None:
    result = extract(
        plan(
            "B\t1. C\t\tSEND DATA BY MAY 2007.\t",
            "\t2. D\t\tEL SALVADOR AND IOM WILL PRESENT A STUDY DURING RCGM, 4-6 JUNE 2007\t",
            "\t3. E\t\tIOM WILL PREPARE A MANUAL\t",
        )
    )
    rows = review_rows(result, date(2007, 5, 1))
    text = render(result, comments={r.id: list(r.review) for r in rows})
    data, problems = parse_yaml_text(text, "out.yaml")
    assert problems == []
    assert [c.id for c in data.commitments] == [p.record.id for p in result.commitments]
    assert [m.id for m in data.meetings] == ["rcgm-2007-06"]
    assert "  # review: owner not stated: all member countries assumed" in text
    assert "    due: {month: 2007-05}" in text
    assert "    owners: [SV, IOM]" in text
    # The undated promise is proposed whole, flagged, and waits for its due rule.
    assert "  # review: no date: choose one\n  - id: b-3-prepare-manual\n" in text
    assert data.undated == ["b-3-prepare-manual"]
    # The Spanish title is there for the reviewer to fill in, and an empty one loads.
    assert "      es: ''" in text
    assert all(c.title.es == "" for c in data.commitments)
    assert data.commitments[1].source.text.startswith("EL SALVADOR AND IOM WILL PRESENT")


def test_compare_reports_new_changed_and_gone() -> None:
    first = extract(plan("B\t1. C\t\tBELIZE WILL SEND DATA BY MAY 2007. PANAMA WILL SEND A NOTE BY MAY 2007\t"))
    previous = {
        "commitments": {p.record.id: commitment_mapping(p.record) for p in first.commitments},
        "meetings": {},
    }
    second = extract(plan("B\t1. C\t\tBELIZE WILL SEND DATA BY JUNE 2007. MEXICO WILL SEND A PLAN BY MAY 2007\t"))
    changes = compare(previous, second).commitments
    assert changes.new == ["b-1-send-plan"]
    assert changes.changed == [("b-1-send-data", ["description", "due", "source"])]
    assert changes.gone == ["b-1-send-note"]
    assert changes.unchanged == 0
