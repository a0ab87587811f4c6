"""StickyAssignor ("sticky", eager): balance first, then keep as many owned partitions as possible.

Shared by the cooperative assignor: ownership-claim resolution (spec 5.3), the choice between
the constrained path (identical subscriptions) and the general path, and key-based
explanation lines.
Kafka: ``org.apache.kafka.clients.consumer.StickyAssignor`` and
``internals.AbstractStickyAssignor`` (``allSubscriptionsEqual``, builders).
Simplified: the previous assignment and generation come from ``Subscription.owned`` /
``generation`` instead of serialized ``userData``; no racks; a member's duplicate claims of
one partition count once; claims on partitions that do not exist are dropped (Java keeps a
claim whose topic exists); members are compared by their full subscribed-topic sets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kafkasim.group.assignors._common import PartitionSpace, finish, fmt_tps, prepare
from kafkasim.group.assignors.base import GroupAssignment, RebalanceProtocol, Subscription
from kafkasim.group.assignors.constrained import constrained_assign
from kafkasim.group.assignors.general import general_assign

#: Conflict notes kept for the explanation before summarising.
_MAX_NOTES = 12


@dataclass
class Claims:
    """Ownership claims after conflict resolution, per member in sorted member-id order."""

    raw: list[list[int]]  # every valid claim the member made (deduplicated), as keys
    owned: list[list[int]]  # the claims it still holds after resolution
    multi: set[int]  # partitions claimed twice in one generation: nobody keeps them
    notes: list[str] = field(default_factory=list)


def resolve_claims(space: PartitionSpace, members: Sequence[Subscription]) -> Claims:
    """Resolve conflicting claims, walking members in sorted member-id order.

    First claimant holds; a later higher generation takes over; a lower one gets nothing;
    an equal one marks the partition multiply-claimed and removes it from the holder.
    Claims on partitions outside the considered topics are dropped.
    Kafka: ``AbstractStickyAssignor.allSubscriptionsEqual`` (the ownership part).
    """
    # rec[k]: 0 unclaimed; m+1 held by member m; -(m+1) last claimed by m, held by nobody.
    rec = [0] * space.total
    seen = [-1] * space.total  # last member that claimed k (drops a member's duplicates)
    where = space.where
    gens = [s.generation for s in members]
    raw: list[list[int]] = []
    multi: set[int] = set()
    events: list[tuple[int, int, int, str]] = []
    for m, sub in enumerate(members):
        tag, g = m + 1, gens[m]
        mine: list[int] = []
        for tp in sub.owned:
            w = where.get(tp[0])
            p = tp[1]
            if w is None or not 0 <= p < w[1]:
                continue
            k = w[0] + p
            if seen[k] == m:
                continue
            seen[k] = m
            r = rec[k]
            if r == 0:
                rec[k] = tag
                mine.append(k)
            else:
                other = (r if r > 0 else -r) - 1
                if g == gens[other]:
                    multi.add(k)
                    rec[k] = -tag
                    mine.append(k)
                    events.append((k, other, m, "same"))
                elif g > gens[other]:
                    rec[k] = tag
                    mine.append(k)
                    if r > 0:
                        events.append((k, other, m, "higher"))
                else:
                    mine.append(k)
                    events.append((k, other, m, "lower"))
        raw.append(mine)
    owned = [[k for k in mine if rec[k] == m + 1] for m, mine in enumerate(raw)]
    return Claims(raw, owned, multi, _claim_notes(space, members, events))


def _claim_notes(space: PartitionSpace, members: Sequence[Subscription],
                 events: list[tuple[int, int, int, str]]) -> list[str]:
    notes = []
    tps = space.tps() if events else []
    for k, a, b, kind in events[:_MAX_NOTES]:
        ida, idb = members[a].member_id, members[b].member_id
        ga, gb = members[a].generation, members[b].generation
        if kind == "same":
            notes.append(f"conflict: {tps[k]} claimed by {ida} and {idb} in the same generation "
                         f"{gb}: nobody keeps it")
        elif kind == "higher":
            notes.append(f"conflict: {tps[k]} claimed by {ida} (generation {ga}) and {idb} "
                         f"(generation {gb}): the higher generation keeps it")
        else:
            notes.append(f"conflict: {tps[k]} claimed by {ida} (generation {ga}) and {idb} "
                         f"(generation {gb}): the stale claim of {idb} is ignored")
    if len(events) > _MAX_NOTES:
        notes.append(f"... and {len(events) - _MAX_NOTES} more conflicting claim(s)")
    return notes


@dataclass
class StickyTarget:
    """The full sticky assignment (before any cooperative withholding), as keys."""

    space: PartitionSpace
    members: list[Subscription]
    claims: Claims
    lists: list[list[int]]  # per member, ascending keys
    transferring: dict[int, int] | None  # constrained path only (key -> new owner index)
    lines: list[str]


def sticky_target(partitions_per_topic: Mapping[str, int],
                  subscriptions: Sequence[Subscription]) -> StickyTarget:
    """Resolve claims, then run the constrained or the general path.

    Kafka: ``AbstractStickyAssignor.assignPartitions``. "Identical" compares the raw
    subscribed topic sets, so a subscription to a missing topic forces the general path.
    """
    members, topics = prepare(partitions_per_topic, subscriptions)
    space = PartitionSpace(topics)
    claims = resolve_claims(space, members)
    lines = list(claims.notes)
    if not members:
        return StickyTarget(space, members, claims, [], {}, lines)
    first = frozenset(members[0].topics)
    if all(frozenset(s.topics) == first for s in members):
        res = constrained_assign(space, claims.owned, claims.multi)
        lines.insert(0, (
            f"constrained path (identical subscriptions): {space.total} partition(s) over "
            f"{len(members)} member(s): minQuota {res.min_quota}, maxQuota {res.max_quota}, "
            f"{res.expected_max} member(s) end with maxQuota; owned partitions kept first in "
            "(partition, topic) order, the rest dealt round robin over sorted member ids"))
        return StickyTarget(space, members, claims, res.lists, res.transferring, lines)
    lists, general_lines = general_assign(space, members, claims)
    return StickyTarget(space, members, claims, lists, None, general_lines + lines)


def key_member_lines(target: StickyTarget, lists: list[list[int]],
                     withheld: Mapping[int, int] | None = None) -> list[str]:
    """Per member: size, kept / new / given-up partitions relative to its claims."""
    tps = target.space.tps()
    withheld = withheld or {}
    lines = []
    for m, sub in enumerate(target.members):
        got = lists[m]
        raw = set(target.claims.raw[m])
        gotset = set(got)
        new = [tps[k] for k in got if k not in raw]
        lost = sorted(k for k in raw if k not in gotset)
        line = f"{sub.member_id}: {len(got)} partition(s)"
        if raw:
            line += f"; kept {len(raw) - len(lost)} of {len(raw)} owned"
        if new:
            line += f"; new: {fmt_tps(new)}"
        if lost:
            line += f"; gives up: {fmt_tps(tps[k] for k in lost)}"
        mine = sorted(k for k, owner in withheld.items() if owner == m)
        if mine:
            line += f"; next round (once revoked): {fmt_tps(tps[k] for k in mine)}"
        lines.append(line)
    return lines


def to_assignment(target: StickyTarget, lists: list[list[int]], lines: list[str],
                  transferring: frozenset = frozenset()) -> GroupAssignment:
    """Convert key lists (ascending) to the public result."""
    tps = target.space.tps()
    out = {s.member_id: [tps[k] for k in lists[m]] for m, s in enumerate(target.members)}
    return finish(target.members, out, lines, transferring, presorted=True)


class StickyAssignor:
    """Eager sticky assignor: the full sticky target is handed out at once.

    Kafka: ``org.apache.kafka.clients.consumer.StickyAssignor`` (EAGER only; its userData
    carries the previous assignment and generation, modelled by ``owned``/``generation``).
    """

    name = "sticky"
    supported_protocols = (RebalanceProtocol.EAGER,)

    def assign(self, partitions_per_topic: Mapping[str, int],
               subscriptions: Sequence[Subscription]) -> GroupAssignment:
        target = sticky_target(partitions_per_topic, subscriptions)
        lines = [*target.lines, *key_member_lines(target, target.lists)]
        return to_assignment(target, target.lists, lines)
