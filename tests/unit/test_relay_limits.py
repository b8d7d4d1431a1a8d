"""The relay's quota rules, pure: token bucket per minute, rolling day of recipients, throttling pauses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from followup.outbound.relay_limits import (
    DAY_SLOTS,
    UNLIMITED,
    Limits,
    RelayState,
    recovered,
    room,
    take,
    throttled,
)
from followup.outbound.transports.smtp import is_throttling

T0 = datetime(2026, 8, 3, 15, 0, tzinfo=UTC)


def send(state: RelayState, limits: Limits, at: datetime, count: int, recipients: int = 1) -> tuple[int, RelayState]:
    """Try ``count`` messages at ``at``; how many were granted, and the state after."""
    granted = 0
    for _ in range(count):
        decision = take(state, limits, at, recipients)
        state = decision.state
        granted += decision.granted
    return granted, state


def test_no_limits_grant_everything() -> None:
    granted, state = send(RelayState(), Limits(), T0, 1000)
    assert granted == 1000
    assert room(state, Limits(), T0) == UNLIMITED


def test_the_bucket_starts_full_and_refills_at_the_per_minute_rate() -> None:
    limits = Limits(messages_per_minute=30)
    granted, state = send(RelayState(), limits, T0, 40)
    assert granted == 30
    refused = take(state, limits, T0, 1)
    assert not refused.granted and refused.reason == "30 messages per minute"
    assert refused.retry_at == T0 + timedelta(seconds=2)  # one token every 2 s
    assert room(state, limits, T0 + timedelta(seconds=20)) == 10
    assert send(state, limits, T0 + timedelta(seconds=20), 40)[0] == 10
    # Never more than a minute's worth, however long the relay was idle.
    assert room(state, limits, T0 + timedelta(hours=5)) == 30


def test_a_clock_behind_the_rows_neither_refills_nor_goes_back() -> None:
    limits = Limits(messages_per_minute=10)
    _, state = send(RelayState(), limits, T0, 10)
    assert room(state, limits, T0 - timedelta(minutes=5)) == 0


def test_recipients_per_day_count_every_address_over_a_rolling_day() -> None:
    limits = Limits(recipients_per_day=10)
    granted, state = send(RelayState(), limits, T0, 10, recipients=3)
    assert granted == 3  # 9 recipients; a fourth message of 3 would make 12
    refused = take(state, limits, T0 + timedelta(hours=23), 3)
    assert not refused.granted and refused.reason == "10 recipients per day"
    # The hour T0 fell in leaves the window when DAY_SLOTS hours have begun since.
    frees = T0.replace(minute=0) + timedelta(hours=DAY_SLOTS)
    assert refused.retry_at == frees
    assert not take(state, limits, frees - timedelta(seconds=1), 3).granted
    assert take(state, limits, frees, 3).granted
    # One recipient still fits before then.
    assert take(state, limits, T0 + timedelta(hours=1), 1).granted


def test_no_24_hour_window_ever_holds_more_than_the_daily_quota() -> None:
    limits = Limits(recipients_per_day=100)
    state = RelayState()
    sent: list[datetime] = []
    at = T0
    for _ in range(4 * 24 * 12):  # four days, every 5 minutes, as much as the quota lets through
        for _ in range(20):
            decision = take(state, limits, at, 1)
            state = decision.state
            if decision.granted:
                sent.append(at)
        at += timedelta(minutes=5)
    for start in sent:
        assert sum(1 for s in sent if start <= s < start + timedelta(hours=24)) <= 100
    assert len(sent) >= 3 * 100  # and the quota is used, day after day


def test_a_message_larger_than_the_whole_daily_quota_still_goes_when_nothing_else_did() -> None:
    limits = Limits(recipients_per_day=5)
    assert take(RelayState(), limits, T0, 8).granted
    assert room(RelayState(), limits, T0) == 5


def test_throttling_pauses_longer_each_time_and_a_delivery_resets_it() -> None:
    limits = Limits()
    state = throttled(RelayState(), T0, 60, "421 4.7.0 slow down")
    assert (state.strikes, state.paused_until) == (1, T0 + timedelta(seconds=60))
    refused = take(state, limits, T0 + timedelta(seconds=59), 1)
    assert not refused.granted and refused.retry_at == T0 + timedelta(seconds=60)
    assert "421 4.7.0 slow down" in refused.reason
    assert room(state, limits, T0 + timedelta(seconds=59)) == 0
    assert take(state, limits, T0 + timedelta(seconds=60), 1).granted
    # Replies to transactions under way during a pause are the same episode: no new strike, same pause.
    assert throttled(state, T0 + timedelta(seconds=1), 120, "x") == state
    again = throttled(state, T0 + timedelta(seconds=60), 120, "451 4.7.0")
    assert (again.strikes, again.paused_until) == (2, T0 + timedelta(seconds=180))
    # A delivery after the pause resets the count; during another daemon's fresh pause it does not.
    assert recovered(state, T0 + timedelta(seconds=61)).strikes == 0
    assert recovered(state, T0 + timedelta(seconds=30)) == state


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        (421, "4.7.0 Try again later, closing connection", True),
        (421, "Service not available", True),
        (454, "4.7.0 Temporary authentication failure", True),
        (451, "4.7.500 Server busy. Please try again later", True),
        (451, "4.7.0 Temporary server error", True),
        (451, "4.3.0 Local error in processing", False),
        (451, "Requested action aborted", False),
        (452, "4.5.3 Too many recipients", False),
        (450, "4.2.1 mailbox busy", False),
        (550, "5.7.1 relaying denied", False),
        (None, "connection reset", False),
    ],
)
def test_which_replies_ask_us_to_slow_down(code: int | None, message: str, expected: bool) -> None:
    assert is_throttling(code, message) is expected
