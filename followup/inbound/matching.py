"""Which commitment a reply answers (pure).

Evidence is tried strongest first, as DESIGN.md orders it: the signed token
in the address the reply went to, then In-Reply-To/References against the
Message-IDs we sent, then the ``[RCM-n]`` tags in the subject, then the
sender's open items when exactly one fits. A reply to a merged email (one
message, several items) is matched to the items its own words name (tags,
titles, key words, attachment names; see :mod:`followup.inbound.naming`),
never by the tags its subject repeats; when it names none it is matched to
all of them and flagged for review.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

TOKEN = "token"  # noqa: S105 - a match method name, not a secret
REPLY_HEADERS = "in-reply-to"
SUBJECT_TAG = "subject-tag"
SENDER = "sender"
NONE = ""


@dataclass(frozen=True)
class Match:
    assignment_ids: tuple[int, ...]
    method: str
    #: The outbox row the reply answers, when known (token or Message-ID).
    notification_id: int | None = None
    #: Several items and nothing to tell which one: a person must look.
    ambiguous: bool = False

    @property
    def matched(self) -> bool:
        return bool(self.assignment_ids)


@dataclass(frozen=True)
class SentMessage:
    """One email we sent: its first outbox row and the items it listed."""

    notification_id: int
    assignment_ids: tuple[int, ...]


def narrow(listed: Sequence[int], named: Sequence[int], *, everything: bool = False) -> tuple[tuple[int, ...], bool]:
    """The items of a merged email that the reply names; all of them, ambiguous, when it names none.

    ``everything`` is a reply that says "all of them": every listed item,
    not ambiguous.
    """
    if len(listed) <= 1 or everything:
        return tuple(listed), False
    chosen = tuple(a for a in listed if a in set(named))
    if chosen:
        return chosen, False
    return tuple(listed), True


def decide(
    *,
    by_token: SentMessage | None,
    by_headers: SentMessage | None,
    tagged: Sequence[int],
    sender_open: Sequence[int],
    subject_tagged: Sequence[int] = (),
    named: Sequence[int] = (),
    everything: bool = False,
) -> Match:
    """Apply the evidence in order.

    ``tagged`` are existing assignment ids whose tags the reply's own text
    carries, ``subject_tagged`` those its subject carries (for a reply, the
    subject of the email it answers, so they never narrow a merged email),
    ``named`` those it names by title, key words or attachment names, and
    ``everything`` says it covers all of them.
    """
    said = [*tagged, *named]
    for method, sent in ((TOKEN, by_token), (REPLY_HEADERS, by_headers)):
        if sent is not None and sent.assignment_ids:
            ids, ambiguous = narrow(sent.assignment_ids, said, everything=everything)
            return Match(ids, method, sent.notification_id, ambiguous)
        if sent is not None and (tagged or subject_tagged):
            # A reply to a digest or meeting round that names items.
            ids = tuple(dict.fromkeys(tagged or subject_tagged))
            return Match(ids, method, sent.notification_id, len(ids) > 1)
    if tagged:
        ids = tuple(dict.fromkeys(tagged))
        return Match(ids, SUBJECT_TAG, None, len(ids) > 1)
    if subject_tagged:
        ids, ambiguous = narrow(tuple(dict.fromkeys(subject_tagged)), said, everything=everything)
        return Match(ids, SUBJECT_TAG, None, ambiguous)
    if len(sender_open) == 1:
        return Match((sender_open[0],), SENDER)
    if by_token is not None or by_headers is not None:
        sent = by_token or by_headers
        assert sent is not None
        return Match((), TOKEN if by_token else REPLY_HEADERS, sent.notification_id)
    return Match((), NONE)


def sent_messages(rows: Sequence[tuple[int, str | None, int | None]]) -> Mapping[str, SentMessage]:
    """Group outbox rows (id, message_id, assignment_id) into the emails they made."""
    grouped: dict[str, list[tuple[int, int | None]]] = {}
    for nid, mid, aid in rows:
        if mid:
            grouped.setdefault(mid, []).append((nid, aid))
    return {
        mid: SentMessage(
            notification_id=min(n for n, _ in members),
            assignment_ids=tuple(dict.fromkeys(a for _, a in sorted(members) if a is not None)),
        )
        for mid, members in grouped.items()
    }
