"""Kafka's large assignor tests at full size (1,000,000 partitions, 2,000 consumers)."""

from __future__ import annotations

import resource
import time

import pytest

from kafkasim.group.assignors import Subscription, assign
from kafkasim.records import TopicPartition

TOPICS = tuple(f"t{i:03d}" for i in range(500))
PPT = {t: 2000 for t in TOPICS}
CONSUMERS = [f"c{i:04d}" for i in range(2000)]


def check_complete(assignment: dict[str, list[TopicPartition]], per_member: set[int]) -> None:
    assert sorted(assignment) == CONSUMERS
    assert {len(v) for v in assignment.values()} <= per_member
    seen = {tp for lst in assignment.values() for tp in lst}
    assert len(seen) == 1_000_000 == sum(len(v) for v in assignment.values())


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["sticky", "cooperative-sticky"])
def test_large_assignment_and_group_with_uniform_subscription(strategy):
    """AbstractStickyAssignorTest.testLargeAssignmentAndGroupWithUniformSubscription (Java's
    @Timeout(30)): assign, then reassign with every consumer but c0000 owning its partitions."""
    subs = [Subscription(c, TOPICS) for c in CONSUMERS]
    start = time.perf_counter()
    fresh = assign(strategy, PPT, subs)
    took = time.perf_counter() - start
    check_complete(fresh.assignment, {500})
    owned = [Subscription(c, TOPICS, tuple(fresh.assignment[c]) if i else (), 1)
             for i, c in enumerate(CONSUMERS)]
    start = time.perf_counter()
    again = assign(strategy, PPT, owned)
    took += time.perf_counter() - start
    assert again.assignment == fresh.assignment  # c0000 gets its old partitions back
    assert not again.transferring
    assert took < 30
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 < 2 * 2**30


@pytest.mark.slow
def test_large_assignment_and_group_with_non_equal_subscription():
    """AbstractStickyAssignorTest.testLargeAssignmentAndGroupWithNonEqualSubscription (Java's
    @Timeout(90)): the last consumer subscribes to t000 only, so the general path runs."""
    subs = [Subscription(c, TOPICS[:1] if c == CONSUMERS[-1] else TOPICS) for c in CONSUMERS]
    start = time.perf_counter()
    fresh = assign("sticky", PPT, subs)
    owned = [Subscription(s.member_id, s.topics, tuple(fresh.assignment[s.member_id]) if i else (),
                          1) for i, s in enumerate(subs)]
    again = assign("sticky", PPT, owned)
    assert time.perf_counter() - start < 90
    for result in (fresh, again):
        check_complete(result.assignment, {500})
    assert {tp.topic for tp in again.assignment[CONSUMERS[-1]]} == {"t000"}
