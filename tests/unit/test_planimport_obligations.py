"""Promise or record: which sentence obliges whom, by when.

The sentences here are made up in the plan's style, so that the rules are
shown to be general rather than fitted to the seed document.
"""

from __future__ import annotations

from datetime import date

import pytest

from followup.planimport.obligations import Obligation, canonical, find_obligations
from followup.planimport.owners import OwnerGuess


def dated(sentence: str) -> list[Obligation]:
    return [o for o in find_obligations(sentence) if o.due is not None]


def one(sentence: str) -> Obligation:
    found = dated(sentence)
    assert len(found) == 1, found
    return found[0]


def due_day(ob: Obligation) -> date | None:
    return ob.due.value.due if ob.due and ob.due.value else None


def test_modal_with_a_deadline() -> None:
    ob = one("GUATEMALA WILL SEND THE REPORT TO THE TS BY 30 JUNE 2007")
    assert ob.owners == OwnerGuess(codes=("GT",))
    assert ob.action == "SEND THE REPORT TO THE TS"
    assert due_day(ob) == date(2007, 6, 30)


def test_the_promise_after_a_record_in_the_same_sentence() -> None:
    ob = one("THE TS PREPARED THE REPORT AND BELIZE WILL REVIEW IT BY JUNE 2007")
    assert ob.owners == OwnerGuess(codes=("BZ",))
    assert ob.text == "BELIZE WILL REVIEW IT BY JUNE 2007"
    assert ob.action == "REVIEW IT"  # "IT" is not resolved to a party


def test_it_is_resolved_to_the_noun_the_sentence_began_with() -> None:
    ob = one("THE SURVEY WAS SENT BY IOM AND MEMBER COUNTRIES WILL ANSWER IT BY MAY 2007")
    assert ob.owners == OwnerGuess(all_members=True)
    assert ob.action == "ANSWER THE SURVEY"


@pytest.mark.parametrize(
    "sentence",
    [
        "HONDURAS HOSTED THE WORKSHOP IN MARCH 2007",
        "THE WORKSHOP WAS HELD 12-14 DECEMBER, 2005",
        "UNICEF AND ILO PRESENTED THE GUIDE – SEPTEMBER, 2006",
        "PANAMA SIGNED THE MOU IN MAY 2006",
        "THE PROPOSAL WAS APPROVED (NOVEMBER 2006)",
        "MEXICO SHARED ITS EXPERIENCE WITH THE RCGM, MARCH 2005",
        "THE PPT AND THE TS PARTICIPATED 18 - 19 JULY, 2006",
        "PROVISION OF EQUIPMENT HAS BEEN DONE BY DONOR COUNTRIES (JUNE 2005)",
        "A WORKSHOP, WHICH WILL TAKE PLACE IN MAY 2007, WAS APPROVED BY THE VICE-MINISTERS",
        "IT WAS AGREED THAT THE PPT WOULD PARTICIPATE IN THE FORUM IN MAY 2007",
        "THE VICE-MINISTERS APPROVED A SEMINAR TO BE HELD IN GENEVA, APRIL 2005",
        "COUNTRIES SHOULD SEND THEIR REPORTS BY MAY 2007",
        "INTERESTED COUNTRIES COULD REQUEST SUPPORT (JUNE 2007)",
    ],
)
def test_records_and_wishes_are_not_dated_promises(sentence: str) -> None:
    assert dated(sentence) == []


def test_a_date_that_belongs_to_another_clause() -> None:
    found = find_obligations("COUNTRIES WILL SEND COMMENTS AND IOM SHARED A NEW VERSION – SEPTEMBER, 2006")
    assert [(o.owners, o.due, o.text) for o in found] == [
        (OwnerGuess(all_members=True), None, "COUNTRIES WILL SEND COMMENTS"),
    ]


def test_a_date_that_says_when_it_was_agreed() -> None:
    [ob] = find_obligations("NICARAGUA WILL REQUEST TRAINING FROM MEXICO – RCGM, OCT 2005")
    assert ob.owners == OwnerGuess(codes=("NI",))
    assert ob.due is None


def test_the_date_of_an_event_described_inside_a_promise() -> None:
    [ob] = find_obligations("CANADA WILL SHARE RESULTS OF THE SEMINAR CARRIED OUT IN OTTAWA IN MAY 2004")
    assert ob.owners == OwnerGuess(codes=("CA",))
    assert ob.due is None


def test_requested_to() -> None:
    ob = one("THE RCGM REQUESTED MEXICO AND BELIZE TO SUBMIT COMMENTS BY 1 MAY 2007")
    assert ob.owners == OwnerGuess(codes=("MX", "BZ"))
    assert ob.action == "SUBMIT COMMENTS"


def test_were_urged_to() -> None:
    ob = one("MEMBER STATES WERE URGED TO RATIFY THE PROTOCOL BY THE END OF DECEMBER 2008")
    assert due_day(ob) == date(2008, 12, 31)
    assert ob.owners == OwnerGuess(all_members=True)


def test_party_to_verb() -> None:
    ob = one("UNHCR TO PRESENT A REPORT ON REFUGEE PROTECTION (JUNE 2007)")
    assert ob.owners == OwnerGuess(codes=("UNHCR",))
    assert ob.due is not None
    assert ob.due.kind == "paren"


def test_passive_with_an_agent() -> None:
    ob = one("DRAFT GUIDELINES TO BE CIRCULATED BY THE TS BY 15 MARCH 2007")
    assert ob.owners == OwnerGuess(codes=("TS",))
    assert due_day(ob) == date(2007, 3, 15)


def test_passive_continuing_a_promise() -> None:
    ob = one("HONDURAS AND IOM WILL PREPARE A STUDY TO BE PRESENTED DURING RCGM, 4-6 JUNE, 2007")
    assert ob.owners == OwnerGuess(codes=("HN", "IOM"))
    assert ob.due is not None
    assert (ob.due.kind, ob.due.meeting_kind) == ("meeting", "rcgm")
    assert ob.action == "PREPARE A STUDY TO BE PRESENTED"


def test_imperative_names_nobody() -> None:
    ob = one("REVIEW THE REGIONAL GUIDELINES (RCGM, JUNE 2007)")
    assert ob.owners is None
    assert ob.form == "imperative"


def test_a_typo_in_the_verb() -> None:
    assert canonical("ANALIZE") == "ANALYZE"
    assert canonical("DOCUMENTS") == "DOCUMENTS"
    ob = one("ANALIZE THE DATA ON RETURNS (OCTOBER 2007)")
    assert ob.form == "imperative"


def test_items_run_together_without_punctuation() -> None:
    sentence = (
        "IOM WILL HOLD A WORKSHOP ON DOCUMENT SECURITY FOR BORDER OFFICERS "
        "PUBLISH QUARTERLY A BULLETIN ON RETURNS MEXICO PROPOSED A REGIONAL PROFILE"
    )
    found = find_obligations(sentence)
    recurring = [o for o in found if o.due is not None]
    assert len(recurring) == 1
    assert recurring[0].owners is None
    assert recurring[0].due is not None
    assert recurring[0].due.every_months == 3
    assert recurring[0].text == "PUBLISH QUARTERLY A BULLETIN ON RETURNS"
    iom = next(o for o in found if o.owners == OwnerGuess(codes=("IOM",)))
    assert iom.due is None


def test_each_meeting_at_the_start_of_the_sentence() -> None:
    ob = one("BEFORE EACH RCGM MEETING, THE TS WILL CIRCULATE THE AGENDA")
    assert ob.owners == OwnerGuess(codes=("TS",))
    assert ob.due is not None
    assert (ob.due.kind, ob.due.meeting_kind, ob.due.days_before) == ("each_meeting", "rcgm", None)


def test_recurring_with_a_named_owner() -> None:
    ob = one("EVERY MEMBER COUNTRY WILL REPORT ANNUALLY ON RETURNS")
    assert ob.owners == OwnerGuess(all_members=True)
    assert ob.due is not None
    assert ob.due.every_months == 12


def test_unclear_owner_is_kept_for_review() -> None:
    ob = one("INTERESTED COUNTRIES WILL SEND PROPOSALS BY JULY 2007")
    assert ob.owners == OwnerGuess(unclear=("INTERESTED COUNTRIES",))


def test_in_a_month_after_a_promise() -> None:
    ob = one("COSTA RICA WILL HOST A WORKSHOP ON INTEGRATION IN MARCH 2007")
    assert ob.owners == OwnerGuess(codes=("CR",))
    assert ob.due is not None
    assert ob.due.kind == "weak"


def test_mixed_case_text() -> None:
    ob = one("The Technical Secretariat will circulate the minutes by 15 December 2006.")
    assert ob.owners == OwnerGuess(codes=("TS",))
    assert ob.action == "circulate the minutes"
