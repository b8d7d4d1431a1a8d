"""How many stored messages one transaction takes: a count and a budget of bytes.

A count alone bounds nothing when one message may weigh 30 MB; bytes alone
would let thousands of tiny replies into one transaction. Every reader of
mail (the IMAP poll, ``followup ingest``, the resumption of an interrupted
run) cuts its batches by both.
"""

from __future__ import annotations

from collections.abc import Sequence


def plan_batches(sizes: Sequence[tuple[int, int]], *, max_count: int, max_bytes: int) -> list[list[int]]:
    """Group ``(key, size)`` pairs, in order, into batches of at most ``max_count`` keys and ``max_bytes``.

    Order is kept (the IMAP cursor moves to a batch's highest UID, so a batch
    never skips ahead of an earlier one); a message above ``max_bytes`` is a
    batch of its own rather than never read.
    """
    batches: list[list[int]] = []
    current: list[int] = []
    weight = 0
    for key, size in sizes:
        if current and (len(current) >= max_count or weight + size > max_bytes):
            batches.append(current)
            current, weight = [], 0
        current.append(key)
        weight += size
    if current:
        batches.append(current)
    return batches
