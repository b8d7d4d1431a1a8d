"""Database rows to the template views of :mod:`followup.outbound.render`.

Titles, descriptions and owner names are picked in the reader's language
here, so templates never decide which language a field is in.
"""

from __future__ import annotations

from datetime import date

from followup.outbound.render import ItemView, SecretariatView, pick
from followup.outbound.tokens import reference_tag
from followup.settings import Settings
from followup.store.models import Assignment, Commitment, Contact, Party


def party_name(party: Party, language: str) -> str:
    return pick(language, party.name_en, party.name_es)


def party_in_text(party: Party, language: str) -> str:
    """The party's name as a sentence says it, article included; empty when the data gives none.

    The running-text form of one language never stands in for another's: an
    English article in a Spanish sentence is worse than the bare name.
    """
    return party.text_name_es if language == "es" else party.text_name_en


def salutation(contact: Contact | None, language: str) -> str:
    """The contact's own greeting in ``language``; empty: the template's neutral greeting."""
    if contact is None:
        return ""
    return contact.salutation_es if language == "es" else contact.salutation_en


def source_ref(commitment: Commitment, language: str = "en") -> str:
    """Where a commitment comes from, e.g. "Plan of Action 2006-11, Human rights, objective 2"."""
    parts = []
    if commitment.source_document:
        parts.append(commitment.source_document)
    if commitment.source_subject:
        parts.append(commitment.source_subject.capitalize())
    if commitment.source_objective:
        parts.append(f"{'objetivo' if language == 'es' else 'objective'} {commitment.source_objective}")
    return ", ".join(parts)


def item_view(
    assignment: Assignment,
    commitment: Commitment,
    party: Party,
    *,
    language: str,
    today: date,
    tag: str,
    reminders_sent: int = 0,
    last_reply_on: date | None = None,
    link: str = "",
) -> ItemView:
    assert assignment.id is not None
    return ItemView(
        assignment_id=assignment.id,
        reference=reference_tag(tag, assignment.id),
        title=pick(language, commitment.title_en, commitment.title_es),
        due_date=assignment.due_date,
        days_left=(assignment.due_date - today).days,
        owner_name=party_name(party, language),
        owner_in_text=party_in_text(party, language),
        description=pick(language, commitment.description_en, commitment.description_es),
        source_ref=source_ref(commitment, language),
        state=assignment.state,
        original_due_date=assignment.original_due_date if assignment.state == "extended" else None,
        reminders_sent=reminders_sent,
        last_reply_on=last_reply_on,
        link=link,
    )


def secretariat_view(settings: Settings, language: str = "en") -> SecretariatView:
    """The secretariat as an email in ``language`` signs it."""
    name = pick(language, settings.secretariat.name, settings.secretariat.name_es)
    return SecretariatView(name=name, email=settings.secretariat.email)
