"""Who a plan sentence names."""

from __future__ import annotations

import pytest

from followup.planimport.owners import OwnerGuess, actor_list_before, parse_owners


@pytest.mark.parametrize(
    "text",
    [
        "COUNTRIES",
        "MEMBER COUNTRIES",
        "THE COUNTRIES",
        "STATES",
        "MEMBER STATES",
        "ALL MEMBER COUNTRIES",
        "MEMBER COUNTRY",
    ],
)
def test_all_members(text: str) -> None:
    assert parse_owners(text) == OwnerGuess(all_members=True)


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("EL SALVADOR AND IOM", ("SV", "IOM")),
        ("BELIZE", ("BZ",)),
        ("CANADA, MEXICO, AND U.S.", ("CA", "MX", "US")),
        ("COSTA RICA, THE DOMINICAN REPUBLIC AND PANAMA", ("CR", "DO", "PA")),
        ("GUATEMALA, HONDURAS Y NICARAGUA", ("GT", "HN", "NI")),
        ("THE UNITED STATES OF AMERICA", ("US",)),
        ("México y Panamá", ("MX", "PA")),
        ("EL SALVADOR IN COOPERATION WITH IOM", ("SV", "IOM")),
    ],
)
def test_named_countries(text: str, codes: tuple[str, ...]) -> None:
    assert parse_owners(text) == OwnerGuess(codes=codes)


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("IOM", ("IOM",)),
        ("UNHCR AND UNICEF", ("UNHCR", "UNICEF")),
        ("ILO/IPEC", ("ILO",)),
        ("THE TS", ("TS",)),
        ("TECHNICAL SECRETARIAT (TS)", ("TS",)),
        ("THE RCM TECHNICAL SECRETARIAT", ("TS",)),
        ("THE PPT", ("PPT",)),
        ("THE PPT (PANAMA)", ("PPT",)),
        ("THE PRESIDENCY PRO-TEMPORE", ("PPT",)),
        ("PRESIDENCY PRO TÉMPORE", ("PPT",)),
        ("OIM y ACNUR", ("IOM", "UNHCR")),
    ],
)
def test_organisations(text: str, codes: tuple[str, ...]) -> None:
    assert parse_owners(text) == OwnerGuess(codes=codes)


def test_interested_countries_need_review() -> None:
    guess = parse_owners("INTERESTED COUNTRIES")
    assert guess == OwnerGuess(unclear=("INTERESTED COUNTRIES",))
    assert guess.stated and not guess.named


def test_named_parties_with_an_unclear_rest() -> None:
    guess = parse_owners("PPT, TS, IOM, MEXICO AND OTHER INTERESTED MEMBER COUNTRIES")
    assert guess.codes == ("PPT", "TS", "IOM", "MX")
    assert guess.unclear == ("OTHER INTERESTED MEMBER COUNTRIES",)


def test_an_unknown_body_is_unclear() -> None:
    assert parse_owners("THE RCGM") == OwnerGuess(unclear=("RCGM",))
    assert parse_owners("IOM AND THE UN SPECIAL RAPPORTEUR").unclear == ("UN SPECIAL RAPPORTEUR",)


def test_the_pronoun_us_is_not_a_country() -> None:
    assert parse_owners("let us") == OwnerGuess(unclear=("LET US",))
    assert parse_owners("THE US").codes == ("US",)


def test_actor_list_before_a_verb() -> None:
    text = "EL SALVADOR AND IOM WILL PREPARE"
    found = actor_list_before(text, text.index(" WILL"))
    assert found is not None
    assert (found.start, found.owners.codes) == (0, ("SV", "IOM"))


def test_the_agent_of_a_previous_clause_is_not_the_subject() -> None:
    text = "THE QUESTIONNAIRE WAS SENT BY THE TS AND MEMBER COUNTRIES WILL COMPLETE IT"
    found = actor_list_before(text, text.index(" WILL"))
    assert found is not None
    assert found.owners == OwnerGuess(all_members=True)
    assert text[found.start :].startswith("MEMBER COUNTRIES")


def test_a_trailing_parenthesis_is_skipped() -> None:
    text = "WITH A CONTRIBUTION BY CANADA, IOM (THE ABOVE-MENTIONED PROGRAM) WILL ELABORATE"
    found = actor_list_before(text, text.index(" WILL"))
    assert found is not None
    assert found.owners.codes == ("IOM",)


def test_no_actor_before_a_verb() -> None:
    text = "THE REPORTS WILL BE SUBMITTED"
    assert actor_list_before(text, text.index(" WILL")) is None
