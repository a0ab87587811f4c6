"""The sticky assignors' constrained (uniform) path, used when every subscription is identical.

Kafka: ``AbstractStickyAssignor.ConstrainedAssignmentBuilder`` (non-rack steps:
``assignOwnedPartitions``, ``getUnassignedPartitions``, ``assignRoundRobin``).
O(P log P): owned partitions are only sorted for members that must give some up.
Where Java walks a HashMap, members are taken in sorted member-id order.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from itertools import compress

from kafkasim.group.assignors._common import PartitionSpace

_INVERT = bytes.maketrans(b"\x00\x01", b"\x01\x00")


@dataclass
class ConstrainedResult:
    """Per member (sorted-id index) the assigned keys, plus Kafka's bookkeeping."""

    lists: list[list[int]]
    transferring: dict[int, int]  # key -> new owner index (partitionsTransferringOwnership)
    kept: list[int]  # per member: how many owned partitions it kept in step 1
    min_quota: int
    max_quota: int
    expected_max: int  # members that end with max_quota


def constrained_assign(space: PartitionSpace, owned: list[list[int]], multi: set[int]
                       ) -> ConstrainedResult:
    """Assign ``space`` over ``len(owned)`` members, keeping owned partitions up to quota.

    ``owned[m]``: member m's resolved claims; ``multi``: same-generation conflicts, which
    nobody keeps and which count as transferring wherever they land.
    """
    n = len(owned)
    total = space.total
    min_q, expected_max = divmod(total, n)
    max_q = min_q + (1 if expected_max else 0)
    at_max = 0
    lists: list[list[int]] = []
    kept: list[int] = []
    assigned = bytearray(total)
    revoked = bytearray(total)
    under_min: list[int] = []
    exactly_min: list[int] = []
    sort_key = _partition_then_topic(space)

    # Step 1 - keep owned partitions (Kafka: assignOwnedPartitions).
    for m in range(n):
        own = owned[m]
        if multi:
            own = [k for k in own if k not in multi]
        size = len(own)
        if size < min_q:
            keep, surplus = own, ()
            under_min.append(m)
        elif size >= max_q and at_max < expected_max:
            # Kafka: keep the first maxQuota in (partition, topic) order; that order is
            # what keeps each member's topics balanced (testTopicBalanceAfterReassignment).
            if size > max_q:
                own = sorted(own, key=sort_key)
            keep, surplus = own[:max_q], own[max_q:]
            at_max += 1
            if at_max == expected_max:
                exactly_min.clear()
        else:
            if size > min_q:
                own = sorted(own, key=sort_key)
            keep, surplus = own[:min_q], own[min_q:]
            if at_max < expected_max:
                exactly_min.append(m)
        for k in keep:
            assigned[k] = 1
        for k in surplus:
            revoked[k] = 1
        lists.append(list(keep))
        kept.append(len(keep))

    # Step 2 - unassigned partitions in (topic, partition) order = key order.
    unassigned = list(compress(range(total), assigned.translate(_INVERT)))

    # Step 3 - round-robin fill (Kafka: assignRoundRobin). under_min / exactly_min are
    # already in member-id order (Java sorts both lists here).
    waiting = deque(exactly_min)
    sizes = [len(lst) for lst in lists]
    transferring: dict[int, int] = {}
    i = 0
    for k in unassigned:
        if i < len(under_min):
            m = under_min[i]
            from_under = True
        elif not under_min:
            if not waiting:
                raise AssertionError("constrained assignment: no member left with room")
            m = waiting.popleft()
            from_under = False
        else:  # cursor passed the end: restart the cyclic iterator
            i = 0
            m = under_min[0]
            from_under = True
        lists[m].append(k)
        size = sizes[m] = sizes[m] + 1
        if revoked[k] or (multi and k in multi):
            transferring[k] = m
        if size == min_q:
            # Kafka: reached minQuota -> leaves the under-min list, joins the exactly-min tail.
            del under_min[i]
            waiting.append(m)
        else:
            if from_under:
                i += 1
            if size == max_q:
                at_max += 1
    if any(sizes[m] != min_q for m in under_min):
        raise AssertionError("constrained assignment left a member under minQuota")
    for lst in lists:
        lst.sort()
    return ConstrainedResult(lists, transferring, kept, min_q, max_q, expected_max)


def _partition_then_topic(space: PartitionSpace):
    """Sort key for keys: (partition number, topic name); topic index order = name order."""
    offsets = space.offsets
    topic_index = space.topic_index
    n_topics = len(space.topics)

    def key(k: int) -> int:
        ti = topic_index(k)
        return (k - offsets[ti]) * n_topics + ti

    return key
