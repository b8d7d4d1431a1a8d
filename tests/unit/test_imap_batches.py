"""How the IMAP poll cuts a folder into FETCHes: by count and by bytes, in UID order."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from followup.inbound.batching import plan_batches
from followup.inbound.imap_source import parse_size_response, uid_set


def test_batches_are_cut_by_count_and_by_bytes() -> None:
    sizes = [(1, 100), (2, 100), (3, 100), (4, 100), (5, 100)]
    assert plan_batches(sizes, max_count=2, max_bytes=10_000) == [[1, 2], [3, 4], [5]]
    assert plan_batches(sizes, max_count=200, max_bytes=250) == [[1, 2], [3, 4], [5]]
    assert plan_batches(sizes, max_count=200, max_bytes=500) == [[1, 2, 3, 4, 5]]


def test_a_message_over_the_budget_is_fetched_alone_not_skipped() -> None:
    sizes = [(1, 10), (2, 5_000), (3, 10), (4, 10)]
    assert plan_batches(sizes, max_count=200, max_bytes=100) == [[1], [2], [3, 4]]
    assert plan_batches([], max_count=200, max_bytes=100) == []


@given(
    st.lists(st.integers(min_value=0, max_value=3_000), max_size=60),
    st.integers(min_value=1, max_value=10),
    st.integers(min_value=1, max_value=5_000),
)
def test_every_uid_once_in_order_within_both_bounds(weights: list[int], max_count: int, max_bytes: int) -> None:
    sizes = [(uid, w) for uid, w in enumerate(weights, start=10)]
    batches = plan_batches(sizes, max_count=max_count, max_bytes=max_bytes)
    assert [uid for batch in batches for uid in batch] == [uid for uid, _ in sizes]
    weight = dict(sizes)
    for batch in batches:
        assert 1 <= len(batch) <= max_count
        assert len(batch) == 1 or sum(weight[u] for u in batch) <= max_bytes
    # Greedy: a batch is only closed when the next message would not fit.
    for batch, following in pairwise(batches):
        assert len(batch) == max_count or sum(weight[u] for u in batch) + weight[following[0]] > max_bytes


def test_uid_sets_write_runs_as_ranges() -> None:
    assert uid_set([1, 2, 3, 5, 7, 8, 20]) == "1:3,5,7:8,20"
    assert uid_set([4]) == "4"
    assert uid_set([]) == ""


@given(st.sets(st.integers(min_value=1, max_value=500), max_size=80))
def test_a_uid_set_names_exactly_its_uids(uids: set[int]) -> None:
    named: list[int] = []
    for part in filter(None, uid_set(sorted(uids)).split(",")):
        low, _, high = part.partition(":")
        named.extend(range(int(low), int(high or low) + 1))
    assert named == sorted(uids)


def test_size_response_pairs_sizes_with_uids() -> None:
    lines = [
        b"1 FETCH (UID 5 RFC822.SIZE 1234)",
        b"2 FETCH (RFC822.SIZE 77 UID 9)",
        b"3 FETCH (FLAGS (\\Seen))",
        b"Fetch completed (0.001 + 0.000 secs).",
    ]
    assert parse_size_response(lines) == [(5, 1234), (9, 77)]
