"""Checks an assignment against Kafka's rules; used by kafkasim's tests and by users' own.

Kafka: ``AbstractStickyAssignorTest.verifyValidityAndBalance`` / ``isFullyBalanced`` /
``PartitionMovements.isSticky`` and ``CooperativeStickyAssignorTest.verifyCooperativeValidity``.
Each function returns human-readable problems (empty when fine) or the offending partitions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kafkasim.group.assignors.base import GroupAssignment, Subscription
from kafkasim.records import TopicPartition


def assignment_problems(partitions_per_topic: Mapping[str, int],
                        subscriptions: Sequence[Subscription], result: GroupAssignment,
                        *, complete: bool = True) -> list[str]:
    """Validity: every member present (and no other), lists sorted, each partition exists,
    is subscribed by its member and assigned once; withheld partitions are not assigned.

    ``complete``: also require every partition of a subscribed, existing topic to be assigned
    or withheld (``result.transferring``); Kafka's own check leaves this out.
    """
    problems: list[str] = []
    subs = {s.member_id: frozenset(s.topics) for s in subscriptions}
    got = result.assignment
    for m in sorted(set(subs) - set(got)):
        problems.append(f"member {m} is missing from the assignment")
    for m in sorted(set(got) - set(subs)):
        problems.append(f"assignment names unknown member {m}")
    owner: dict[tuple, str] = {}
    for m in sorted(got):
        lst = got[m]
        if list(lst) != sorted(lst):
            problems.append(f"{m}: list is not sorted")
        for tp in lst:
            t, p = tp
            if not 0 <= p < partitions_per_topic.get(t, 0):
                problems.append(f"{m}: {t}-{p} does not exist")
            elif m in subs and t not in subs[m]:
                problems.append(f"{m}: {t}-{p} is from a topic it does not subscribe to")
            if (t, p) in owner:
                problems.append(f"{t}-{p} assigned to both {owner[(t, p)]} and {m}")
            owner[(t, p)] = m
            if tp in result.transferring:
                problems.append(f"{m}: {t}-{p} is assigned but also withheld as transferring")
    if complete:
        wanted = {t for ts in subs.values() for t in ts}
        for t in sorted(wanted):
            for p in range(max(partitions_per_topic.get(t, 0), 0)):
                if (t, p) not in owner and TopicPartition(t, p) not in result.transferring:
                    problems.append(f"{t}-{p} is not assigned")
    return problems


def is_fully_balanced(result: GroupAssignment) -> bool:
    """Member sizes differ by at most one (Kafka ``isFullyBalanced``)."""
    sizes = [len(v) for v in result.assignment.values()]
    return not sizes or max(sizes) - min(sizes) <= 1


def balance_problems(subscriptions: Sequence[Subscription], result: GroupAssignment,
                     *, by: str = "subscription") -> list[str]:
    """Kafka's balance: whenever A has >= 2 more partitions than B, none of A's partitions is
    from a topic B subscribes to (``by="subscription"``, the assignor's own ``isBalanced``)
    or, weaker, B is assigned (``by="assignment"``, as ``verifyValidityAndBalance`` checks).
    """
    sizes = {m: len(v) for m, v in result.assignment.items()}
    holders: dict[str, list[str]] = {}
    for m, lst in result.assignment.items():
        for t in {tp[0] for tp in lst}:
            holders.setdefault(t, []).append(m)
    problems = []
    for s in sorted(subscriptions, key=lambda s: s.member_id):
        b = s.member_id
        if b not in sizes:
            continue
        topics = set(s.topics) if by == "subscription" else {tp[0] for tp in result.assignment[b]}
        for t in sorted(topics):
            for a in sorted(holders.get(t, ())):
                if sizes[a] >= sizes[b] + 2:
                    problems.append(f"{a} has {sizes[a]} partitions and {b} only {sizes[b]}, "
                                    f"yet {a} holds {t} which {b} could take")
    return problems


def revoked_and_added(subscriptions: Sequence[Subscription], result: GroupAssignment
                      ) -> set[TopicPartition]:
    """Partitions given to a new owner while another member must still revoke them.

    Must be empty for a cooperative assignor (Kafka: ``validateCooperativeAssignment``).
    """
    added: set[TopicPartition] = set()
    revoked: set[TopicPartition] = set()
    for s in subscriptions:
        owned = {TopicPartition(t, p) for t, p in s.owned}
        mine = {TopicPartition(t, p) for t, p in result.assignment.get(s.member_id, ())}
        added |= mine - owned
        revoked |= owned - mine
    return added & revoked


def two_way_moves(subscriptions: Sequence[Subscription], result: GroupAssignment
                  ) -> list[tuple[str, str, str]]:
    """``(topic, a, b)`` where partitions of ``topic`` moved a->b and b->a in one assignment,
    relative to the members' ``owned`` lists (Kafka ``isSticky`` must be true: none)."""
    final = {TopicPartition(t, p): m for m, lst in result.assignment.items() for t, p in lst}
    moves = set()
    for s in subscriptions:
        for t, p in s.owned:
            b = final.get(TopicPartition(t, p))
            if b is not None and b != s.member_id:
                moves.add((t, s.member_id, b))
    return sorted((t, a, b) for t, a, b in moves if a < b and (t, b, a) in moves)
