"""A relay's quotas as pure rules: messages per minute, recipients per day, a pause after throttling.

Microsoft 365 and Google Workspace cap what one account may send (messages
per minute, recipients per 24 hours) and answer 4xx when a sender goes
faster. Every daemon sending through one account shares these quotas, so
their state lives in one database row per relay (:mod:`.relay_quota`); the
rules that read and change that state are here, as functions of the state,
the limits and the instant, so they are tested without a database or a clock.

* Messages per minute: a token bucket holding at most ``messages_per_minute``
  tokens, refilled continuously at that rate; one message takes one token.
* Recipients per day: both providers count a *rolling* 24 hours, not a
  calendar day, so a calendar-day counter would let a backlog send a whole
  day's quota in the evening and another right after midnight. The state
  keeps the recipients sent in each of the last :data:`DAY_SLOTS` hours; a
  message goes out only if the sum of those slots (always at least the last
  24 hours) stays within the quota, so no 24-hour window can exceed it.
  The quota frees up hour by hour as old slots leave the window.
* Throttling: a throttling reply pauses the relay for a while that doubles
  with each reply in a row (the caller computes it with the outbox's
  :func:`~followup.outbound.outbox.backoff_seconds`, capped); a delivery
  that goes through ends the run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

#: Hourly slots of the rolling day: 25, so that every window of 24 hours lies inside them.
DAY_SLOTS = 25
SLOT_SECONDS = 3600
#: What :func:`room` says when no quota is set.
UNLIMITED = 1 << 30


@dataclass(frozen=True)
class Limits:
    """A relay's quotas; 0 means no limit."""

    messages_per_minute: int = 0
    recipients_per_day: int = 0

    @property
    def any(self) -> bool:
        return self.messages_per_minute > 0 or self.recipients_per_day > 0


@dataclass(frozen=True)
class RelayState:
    """What one database row holds about a relay (see :class:`~followup.store.models.RelayQuota`)."""

    #: Messages that may go out right now (as of ``refilled_at``).
    tokens: float = 0.0
    #: When ``tokens`` was last brought up to date; None: never (the bucket starts full).
    refilled_at: datetime | None = None
    #: The hour (hours since the epoch) of the last slot of ``hour_counts``.
    hour: int = 0
    #: Recipients sent per hour, oldest first, the last one being ``hour``.
    hour_counts: tuple[int, ...] = ()
    #: Nothing is sent before this instant (the relay answered with throttling).
    paused_until: datetime | None = None
    #: Throttling replies in a row; the pause doubles with each.
    strikes: int = 0
    #: The relay's last throttling reply, for the operator.
    last_error: str = ""

    @property
    def day_used(self) -> int:
        return sum(self.hour_counts)


@dataclass(frozen=True)
class Decision:
    """Whether one message may go now, the state after it, and when to ask again if not."""

    granted: bool
    state: RelayState
    retry_at: datetime | None = None
    #: Why not, in a few words ("30 messages per minute"), for logs and the outbox.
    reason: str = ""


def epoch_hour(at: datetime) -> int:
    return int(at.astimezone(UTC).timestamp() // SLOT_SECONDS)


def hour_start(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * SLOT_SECONDS, UTC)


def refill(state: RelayState, limits: Limits, at: datetime) -> RelayState:
    """``state`` brought up to ``at``: tokens refilled, hour slots older than the window dropped.

    Instants before the state's own (another daemon's clock runs ahead)
    neither refill nor move the window back.
    """
    tokens = state.tokens
    refilled_at = state.refilled_at
    capacity = float(limits.messages_per_minute)
    if capacity > 0:
        if refilled_at is None:
            tokens = capacity
        else:
            elapsed = max(0.0, (at - refilled_at).total_seconds())
            tokens = min(capacity, tokens + elapsed * capacity / 60.0)
    refilled_at = at if refilled_at is None else max(refilled_at, at)
    hour = epoch_hour(at)
    counts = state.hour_counts
    if hour > state.hour:
        counts = (counts + (0,) * min(hour - state.hour, DAY_SLOTS))[-DAY_SLOTS:]
    else:
        hour = state.hour
    if not counts:
        counts = (0,)
    return replace(state, tokens=tokens, refilled_at=refilled_at, hour=hour, hour_counts=counts)


def take(state: RelayState, limits: Limits, at: datetime, recipients: int) -> Decision:
    """One message to ``recipients`` addresses at ``at``: granted (taking its share) or refused with a time.

    A message with more recipients than the whole daily quota still goes
    when nothing else was sent in the window, so that it cannot wait forever.
    """
    now = refill(state, limits, at)
    if now.paused_until is not None and at < now.paused_until:
        return Decision(False, now, now.paused_until, f"the relay asked us to slow down ({now.last_error})")
    per_minute = limits.messages_per_minute
    if per_minute > 0 and now.tokens < 1.0:
        wait = (1.0 - now.tokens) * 60.0 / per_minute
        return Decision(False, now, at + timedelta(seconds=wait), f"{per_minute} messages per minute")
    per_day = limits.recipients_per_day
    if per_day > 0 and now.day_used > 0 and now.day_used + recipients > per_day:
        return Decision(False, now, _day_frees(now, per_day - recipients), f"{per_day} recipients per day")
    counts = (*now.hour_counts[:-1], now.hour_counts[-1] + recipients)
    tokens = now.tokens - 1.0 if per_minute > 0 else now.tokens
    return Decision(True, replace(now, tokens=tokens, hour_counts=counts))


def _day_frees(state: RelayState, allowed: int) -> datetime:
    """When enough old hour slots have left the window that at most ``allowed`` recipients remain in it."""
    used = state.day_used
    first = state.hour - len(state.hour_counts) + 1
    for offset, count in enumerate(state.hour_counts):
        used -= count
        if used <= max(allowed, 0):
            # Slot ``first + offset`` leaves the window DAY_SLOTS hours after it began.
            return hour_start(first + offset + DAY_SLOTS)
    return hour_start(state.hour + DAY_SLOTS)


def room(state: RelayState, limits: Limits, at: datetime) -> int:
    """How many messages (of one recipient at least) could go right now; 0 while paused or spent."""
    now = refill(state, limits, at)
    if now.paused_until is not None and at < now.paused_until:
        return 0
    space = UNLIMITED
    if limits.messages_per_minute > 0:
        space = min(space, math.floor(now.tokens + 1e-9))
    if limits.recipients_per_day > 0:
        left = limits.recipients_per_day - now.day_used
        space = min(space, max(left, 1 if now.day_used == 0 else 0))
    return max(space, 0)


def throttled(state: RelayState, at: datetime, pause_seconds: float, error: str) -> RelayState:
    """The relay answered with throttling at ``at``: pause it ``pause_seconds``.

    Replies to transactions already under way when the pause began (several
    connections, several daemons) belong to the same episode: they neither
    lengthen the pause nor count as another strike.
    """
    if state.paused_until is not None and state.paused_until > at:
        return state
    return replace(
        state, paused_until=at + timedelta(seconds=pause_seconds), strikes=state.strikes + 1, last_error=error
    )


def recovered(state: RelayState, at: datetime) -> RelayState:
    """A delivery went through at ``at``: the next throttling reply starts again from the shortest pause.

    A pause still running (another daemon was throttled meanwhile) stays.
    """
    if state.paused_until is not None and state.paused_until > at:
        return state
    return replace(state, strikes=0, paused_until=None)
