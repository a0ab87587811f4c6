"""CooperativeStickyAssignor ("cooperative-sticky"): the sticky target minus partitions in transit.

A partition moving from one member to another is withheld for one round: its owner revokes
it (``onPartitionsRevoked``), rejoins, and the next rebalance hands it to the new owner.
Kafka: ``org.apache.kafka.clients.consumer.CooperativeStickyAssignor`` (KIP-429),
``adjustAssignment`` / ``computePartitionsTransferringOwnership``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kafkasim.group.assignors._common import fmt_tps
from kafkasim.group.assignors.base import GroupAssignment, RebalanceProtocol, Subscription
from kafkasim.group.assignors.sticky import (
    StickyTarget,
    key_member_lines,
    sticky_target,
    to_assignment,
)


class CooperativeStickyAssignor:
    """Sticky target, minus the partitions transferring ownership this round.

    Constrained path: the transfers recorded while dealing partitions (revoked surplus, and
    partitions claimed twice in one generation). General path: ``added ∩ revoked`` over the
    members' raw ``owned`` lists.
    Kafka: ``CooperativeStickyAssignor.assign`` (supports COOPERATIVE and EAGER).
    """

    name = "cooperative-sticky"
    supported_protocols = (RebalanceProtocol.COOPERATIVE, RebalanceProtocol.EAGER)

    def assign(self, partitions_per_topic: Mapping[str, int],
               subscriptions: Sequence[Subscription]) -> GroupAssignment:
        target = sticky_target(partitions_per_topic, subscriptions)
        moving = target.transferring
        if moving is None:
            moving = _added_and_revoked(target)
        lists = target.lists
        if moving:
            drop = set(moving)
            lists = [[k for k in lst if k not in drop] if any(moving.get(k) == m for k in lst)
                     else lst for m, lst in enumerate(lists)]
        tps = target.space.tps()
        withheld = frozenset(tps[k] for k in moving)
        lines = list(target.lines)
        if moving:
            lines.append(
                f"cooperative: {len(moving)} partition(s) withheld this round (revoked by their "
                f"owner first, assigned at the next rebalance): {fmt_tps(sorted(withheld))}")
        else:
            lines.append("cooperative: nothing to revoke, so nothing is withheld")
        lines += key_member_lines(target, lists, moving)
        return to_assignment(target, lists, lines, withheld)


def _added_and_revoked(target: StickyTarget) -> dict[int, int]:
    """Kafka ``computePartitionsTransferringOwnership``: added to a member that did not own it,
    while some member owned it and is losing it."""
    revoked: set[int] = set()
    added: dict[int, int] = {}
    for m, lst in enumerate(target.lists):
        raw = set(target.claims.raw[m])
        mine = set(lst)
        revoked.update(k for k in raw if k not in mine)
        for k in lst:
            if k not in raw:
                added[k] = m
    return {k: m for k, m in added.items() if k in revoked}
