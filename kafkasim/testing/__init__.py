"""Helpers for testing code against Kafka's semantics with Hypothesis.

``kafkasim.testing.strategies`` generates consumer-group inputs for assignors;
:func:`next_round` turns an assignment into the subscriptions of the following rebalance.
"""

from __future__ import annotations

from collections.abc import Sequence

from kafkasim.group.assignors.base import GroupAssignment, Subscription

__all__ = ["next_round"]


def next_round(subscriptions: Sequence[Subscription], result: GroupAssignment,
               generation: int | None = None) -> list[Subscription]:
    """The same members and topics, each now owning what ``result`` gave it.

    ``generation`` defaults to one more than the highest current generation (at least 1).
    Kafka: what members send after ``onAssignment`` (``ownedPartitions``, ``generationId``).
    """
    if generation is None:
        generation = max([0, *(s.generation for s in subscriptions)]) + 1
    return [Subscription(s.member_id, s.topics, tuple(result.assignment.get(s.member_id, ())),
                         generation, s.group_instance_id) for s in subscriptions]
