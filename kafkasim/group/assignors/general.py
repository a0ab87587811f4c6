"""The sticky assignors' general path, used when subscriptions differ.

Kafka: ``AbstractStickyAssignor.GeneralAssignmentBuilder`` and ``PartitionMovements``
(non-rack). Same steps and tie-breaks as Java: topics ordered by (subscriber count, name);
unowned partitions placed on the least-loaded subscriber by (size, member id); passes that
move partitions back to a previous owner or to the least-loaded subscriber until Kafka's
balance test holds; moves redirected so no topic flows both ways between two members; a
revert when balancing did not lower the balance score.
Simplified: where Java iterates a HashMap/HashSet, kafkasim takes the smallest member id or
partition; a previous owner must still subscribe to the topic to get a partition back (Java
would hand it back regardless); balancing stops after a generous number of moves (Java
loops until no move is possible).
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush
from typing import TYPE_CHECKING

from kafkasim.group.assignors._common import PartitionSpace

if TYPE_CHECKING:
    from kafkasim.group.assignors.base import Subscription
    from kafkasim.group.assignors.sticky import Claims


class _Movements:
    """Net movement of each partition during one assignment, grouped by topic.

    Kafka: ``AbstractStickyAssignor.PartitionMovements``.
    """

    def __init__(self) -> None:
        self.by_key: dict[int, tuple[int, int]] = {}
        self.by_topic: dict[int, dict[tuple[int, int], set[int]]] = {}

    def _add(self, k: int, ti: int, pair: tuple[int, int]) -> None:
        self.by_key[k] = pair
        self.by_topic.setdefault(ti, {}).setdefault(pair, set()).add(k)

    def _remove(self, k: int, ti: int) -> tuple[int, int]:
        pair = self.by_key.pop(k)
        pairs = self.by_topic[ti]
        pairs[pair].discard(k)
        if not pairs[pair]:
            del pairs[pair]
            if not pairs:
                del self.by_topic[ti]
        return pair

    def move(self, k: int, ti: int, old: int, new: int) -> None:
        if k in self.by_key:
            src, _ = self._remove(k, ti)
            if src != new:  # not simply going back where it came from
                self._add(k, ti, (src, new))
        else:
            self._add(k, ti, (old, new))

    def partition_to_move(self, k: int, ti: int, old: int, new: int) -> int:
        """Kafka ``getTheActualPartitionToBeMoved``: undo a reverse move of the topic instead."""
        pairs = self.by_topic.get(ti)
        if pairs is None:
            return k
        if k in self.by_key:
            old = self.by_key[k][0]
        reverse = pairs.get((new, old))
        return min(reverse) if reverse else k


def general_assign(space: PartitionSpace, members: list[Subscription], claims: Claims
                   ) -> tuple[list[list[int]], list[str]]:
    """Assign ``space`` over ``members`` (sorted by id); returns ascending key lists and notes."""
    n, total, n_topics = len(members), space.total, len(space.topics)
    topic_of = space.topic_of_keys()
    tindex = {t: i for i, t in enumerate(space.topics)}
    subs = [frozenset(tindex[t] for t in s.topics if t in tindex) for s in members]
    potential: list[list[int]] = [[] for _ in range(n_topics)]
    for m in range(n):
        for ti in sorted(subs[m]):
            potential[ti].append(m)

    # Current assignment: resolved claims on topics the member still subscribes to.
    owner = [-1] * total
    sizes = [0] * n
    dropped = 0
    for m in range(n):
        for k in claims.owned[m]:
            if topic_of[k] in subs[m]:
                owner[k] = m
                sizes[m] += 1
            else:
                dropped += 1
    revocation_required = dropped > 0

    # Previous owners: claims from generations below the highest one (highest such wins).
    max_gen = max([-1, *(s.generation for s in members)])
    prev: dict[int, int] = {}
    prev_gen: dict[int, int] = {}
    for m, s in enumerate(members):
        if s.generation < max_gen:
            for k in claims.raw[m]:
                if k not in prev_gen or s.generation > prev_gen[k]:
                    prev[k], prev_gen[k] = m, s.generation

    order = sorted(range(n_topics), key=lambda ti: (len(potential[ti]), space.topics[ti]))
    sorted_all = [k for ti in order
                  for k in range(space.offsets[ti], space.offsets[ti] + space.counts[ti])]
    unassigned = [k for k in sorted_all if owner[k] < 0]
    initializing = max(sizes, default=0) == 0
    kept = total - len(unassigned)

    b = _Balancer(n, n_topics, subs, topic_of, owner, sizes, prev)
    for k in unassigned:  # Kafka: maybeAssign -> least-loaded subscriber by (size, id)
        b.put(k, b.least(topic_of[k]))

    movable = [len(potential[ti]) >= 2 for ti in range(n_topics)]
    max_size = [sum(space.counts[ti] for ti in subs[m]) for m in range(n)]
    b.active = [sizes[m] < max_size[m]
                or any(movable[ti] and m in b.holders[ti] for ti in subs[m]) for m in range(n)]
    b.movable = [ti for ti in range(n_topics) if movable[ti]]
    reassignable = [k for k in sorted_all if movable[topic_of[k]]]

    pre_owner, pre_sizes = owner[:], sizes[:]
    if not revocation_required:
        b.perform([k for k in unassigned if movable[topic_of[k]]])
    performed = b.perform(reassignable)
    reverted = False
    if not initializing and performed:
        act = [m for m in range(n) if b.active[m]]
        if _score([sizes[m] for m in act]) >= _score([pre_sizes[m] for m in act]):
            owner[:], sizes[:] = pre_owner, pre_sizes
            reverted = True

    lists: list[list[int]] = [[] for _ in range(n)]
    for k in range(total):
        lists[owner[k]].append(k)
    shown = ", ".join(f"{space.topics[ti]} ({len(potential[ti])})" for ti in order[:8])
    lines = [
        "general path (subscriptions differ): topics ordered by number of subscribers, then "
        f"name: {shown}{' ...' if n_topics > 8 else ''}",
        f"kept {kept} owned partition(s) in place; {dropped} claim(s) dropped because the owner "
        "no longer subscribes to the topic",
        f"placed {len(unassigned)} unowned partition(s), each on the least-loaded subscriber "
        "(by size, then member id)",
    ]
    if b.moves:
        lines.append(f"balancing: {b.moves} move(s), {b.moves_back} back to a previous owner, "
                     "never moving one topic both ways between two members")
    if reverted:
        lines.append("balancing did not lower the balance score (sum of size differences "
                     "over member pairs): reverted to the placement")
    if b.gave_up:
        lines.append("balancing stopped after its move limit")
    return lists, lines


def _score(sizes: list[int]) -> int:
    """Kafka ``getBalanceScore``: sum over member pairs of |size_i - size_j|."""
    s = sorted(sizes)
    n = len(s)
    return sum(v * (2 * i - n + 1) for i, v in enumerate(s))


class _Balancer:
    """Mutable state of the general path: owners, sizes, per-topic holders, movements."""

    def __init__(self, n: int, n_topics: int, subs: list[frozenset[int]], topic_of: list[int],
                 owner: list[int], sizes: list[int], prev: dict[int, int]) -> None:
        self.subs, self.topic_of, self.owner, self.sizes, self.prev = (
            subs, topic_of, owner, sizes, prev)
        self.active: list[bool] = [True] * n
        self.movable: list[int] = []
        self.holders: list[dict[int, int]] = [{} for _ in range(n_topics)]
        for k, m in enumerate(owner):
            if m >= 0:
                h = self.holders[topic_of[k]]
                h[m] = h.get(m, 0) + 1
        # members with identical subscriptions share a heap of (size, member) entries;
        # an entry is current when its size equals sizes[member] (lazy deletion)
        classes: dict[frozenset[int], int] = {}
        self.cls = [classes.setdefault(subs[m], len(classes)) for m in range(n)]
        self.class_members: list[list[int]] = [[] for _ in classes]
        for m in range(n):
            self.class_members[self.cls[m]].append(m)
        self.heaps = [[(sizes[m], m) for m in ms] for ms in self.class_members]
        for h in self.heaps:
            heapify(h)
        self.topic_classes: list[list[int]] = [[] for _ in range(n_topics)]
        for subset, c in classes.items():
            for ti in subset:
                self.topic_classes[ti].append(c)
        self.moves = self.moves_back = 0
        self.gave_up = False
        self.limit = 8 * (len(owner) + n) + 64
        self.movements = _Movements()
        self._balanced: bool | None = None

    def least(self, ti: int) -> int:
        """The subscriber of topic ``ti`` with the fewest partitions, then smallest id."""
        best: tuple[int, int] | None = None
        sizes = self.sizes
        for c in self.topic_classes[ti]:
            h = self.heaps[c]
            while h[0][0] != sizes[h[0][1]]:
                heappop(h)
            if best is None or h[0] < best:
                best = h[0]
        assert best is not None
        return best[1]

    def _resize(self, m: int, delta: int) -> None:
        self.sizes[m] += delta
        heappush(self.heaps[self.cls[m]], (self.sizes[m], m))

    def put(self, k: int, m: int) -> None:
        self.owner[k] = m
        self._resize(m, 1)
        h = self.holders[self.topic_of[k]]
        h[m] = h.get(m, 0) + 1

    def _take(self, k: int, new: int) -> None:
        old = self.owner[k]
        ti = self.topic_of[k]
        self.movements.move(k, ti, old, new)
        h = self.holders[ti]
        h[old] -= 1
        if not h[old]:
            del h[old]
        self._resize(old, -1)
        self.put(k, new)
        self.moves += 1
        self._balanced = None

    def reassign(self, k: int, new: int) -> None:
        """Kafka ``reassignPartition``: move k (or the partition that undoes a reverse move)."""
        kk = self.movements.partition_to_move(k, self.topic_of[k], self.owner[k], new)
        self._take(kk, new)

    def balanced(self) -> bool:
        """Kafka ``isBalanced``: sizes differ by <= 1, or no partition could move to a member
        with at least 2 fewer partitions that subscribes to its topic."""
        if self._balanced is not None:
            return self._balanced
        sizes, active = self.sizes, self.active
        act = [sizes[m] for m in range(len(sizes)) if active[m]]
        result = True
        if act and min(act) < max(act) - 1:
            big = len(sizes) + len(self.owner) + 1
            class_min = [min((sizes[m] for m in ms if active[m]), default=big)
                         for ms in self.class_members]
            for ti in self.movable:
                floor = min(class_min[c] for c in self.topic_classes[ti]) + 1
                if any(sizes[m] > floor for m in self.holders[ti]):
                    result = False
                    break
        self._balanced = result
        return result

    def perform(self, partitions: list[int]) -> bool:
        """Kafka ``performReassignments``: passes over ``partitions`` until nothing moves."""
        performed = False
        sizes, owner, prev, subs, topic_of = (
            self.sizes, self.owner, self.prev, self.subs, self.topic_of)
        while True:
            modified = False
            for k in partitions:
                if self.balanced():
                    break
                if self.moves >= self.limit:
                    self.gave_up = True
                    return performed
                c = owner[k]
                ti = topic_of[k]
                pm = prev.get(k)
                if (pm is not None and self.active[pm] and ti in subs[pm]
                        and sizes[c] > sizes[pm] + 1):
                    self.reassign(k, pm)  # back to its previous owner
                    self.moves_back += 1
                    performed = modified = True
                    continue
                best = self.least(ti)
                if sizes[c] > sizes[best] + 1:
                    self.reassign(k, best)
                    performed = modified = True
            if not modified:
                return performed
