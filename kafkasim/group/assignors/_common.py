"""Input checks, member ordering, partition numbering and explanation helpers shared by the assignors.

Kafka: ``AbstractPartitionAssignor.assign`` (only subscribed topics that exist with at least
one partition reach an assignor) and ``AbstractPartitionAssignor.MemberInfo`` (ordering).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat

from kafkasim.errors import ConfigError
from kafkasim.group.assignors.base import GroupAssignment, Subscription
from kafkasim.records import TopicPartition

#: How many partitions an explanation line lists before eliding the rest.
SHOW = 8


def prepare(partitions_per_topic: Mapping[str, int], subscriptions: Sequence[Subscription]
            ) -> tuple[list[Subscription], dict[str, int]]:
    """Members sorted by member id, and the topics an assignor considers (name -> count).

    Only topics subscribed by someone that exist with >= 1 partition are kept; missing topics
    are silently ignored, as Kafka does. Raises ConfigError on bad counts or duplicate ids.
    """
    seen: set[str] = set()
    for s in subscriptions:
        if not isinstance(s, Subscription):
            raise ConfigError("subscriptions", f"expected Subscription objects, got {s!r}")
        if s.member_id in seen:
            raise ConfigError(f"subscriptions[{s.member_id!r}]", "duplicate member id")
        seen.add(s.member_id)
    for t, n in partitions_per_topic.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"partitions_per_topic[{t!r}]",
                              f"expected a partition count >= 0, got {n!r}")
    members = sorted(subscriptions, key=lambda s: s.member_id)
    wanted = {t for s in members for t in s.topics}
    topics = {t: partitions_per_topic[t] for t in sorted(wanted)
              if partitions_per_topic.get(t, 0) > 0}
    return members, topics


def static_first_order(members: Iterable[Subscription]) -> list[Subscription]:
    """Range/round-robin member order: static members by instance id, then dynamic by member id.

    Kafka: ``AbstractPartitionAssignor.MemberInfo.compareTo`` (Java ``String.compareTo`` is
    Python ``<`` for these ids). Equal instance ids fall back to member id.
    """
    return sorted(members, key=lambda s: (0, s.group_instance_id, s.member_id)
                  if s.group_instance_id is not None else (1, s.member_id, ""))


class PartitionSpace:
    """Numbers every considered partition 0..total-1 in (topic, partition) order.

    Integer keys keep the sticky assignors' hot loops free of TopicPartition objects.
    """

    def __init__(self, topics: Mapping[str, int]) -> None:
        self.topics: list[str] = sorted(topics)
        self.counts: list[int] = [topics[t] for t in self.topics]
        self.offsets: list[int] = []
        total = 0
        for n in self.counts:
            self.offsets.append(total)
            total += n
        self.total = total
        #: topic -> (offset, count), for owned-partition lookups
        self.where: dict[str, tuple[int, int]] = {
            t: (o, n) for t, o, n in zip(self.topics, self.offsets, self.counts, strict=True)}
        self._tps: list[TopicPartition] | None = None

    def key(self, tp: Sequence) -> int | None:
        """The key of ``(topic, partition)``, or None if that partition is not considered."""
        w = self.where.get(tp[0])
        p = tp[1]
        if w is None or not isinstance(p, int) or not 0 <= p < w[1]:
            return None
        return w[0] + p

    def topic_index(self, key: int) -> int:
        return bisect_right(self.offsets, key) - 1

    def topic_of_keys(self) -> list[int]:
        """``[topic index of key k for every k]`` (O(total) memory)."""
        out: list[int] = []
        for ti, n in enumerate(self.counts):
            out.extend(repeat(ti, n))
        return out

    def tps(self) -> list[TopicPartition]:
        """All TopicPartitions, indexed by key (built once)."""
        if self._tps is None:
            tps: list[TopicPartition] = []
            for t, n in zip(self.topics, self.counts, strict=True):
                tps.extend(map(TopicPartition, repeat(t, n), range(n)))
            self._tps = tps
        return self._tps

    def to_tps(self, keys: Iterable[int]) -> list[TopicPartition]:
        """Sorted TopicPartitions for keys."""
        tps = self.tps()
        return [tps[k] for k in sorted(keys)]


def fmt_tps(tps: Iterable[Sequence], limit: int = SHOW) -> str:
    """``t-0 t-1 ... (+N more)``; ``-`` when empty."""
    items = list(tps)
    shown = " ".join(f"{t}-{p}" for t, p in items[:limit])
    if len(items) > limit:
        shown += f" ... (+{len(items) - limit} more)"
    return shown or "-"


def fmt_members(ids: Sequence[str], limit: int = SHOW) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f", ... (+{len(ids) - limit} more)" if len(ids) > limit else "")


def member_lines(members: Sequence[Subscription], assignment: Mapping[str, list[TopicPartition]],
                 transferring: Iterable[TopicPartition] = ()) -> list[str]:
    """One explanation line per member: size, kept / new / given-up partitions vs its ``owned``."""
    withheld = set(transferring)
    lines = []
    for s in members:
        got = assignment[s.member_id]
        owned = set(s.owned)
        gotset = set(got)
        kept = [tp for tp in got if tp in owned]
        new = [tp for tp in got if tp not in owned]
        lost = sorted(tp for tp in owned if tp not in gotset)
        line = f"{s.member_id}: {len(got)} partition(s)"
        if owned:
            line += f"; kept {len(kept)} of {len(owned)} owned"
        if new:
            line += f"; new: {fmt_tps(new)}"
        if lost:
            line += f"; gives up: {fmt_tps(lost)}"
            later = [tp for tp in lost if tp in withheld]
            if later:
                line += f" (withheld from their new owner until revoked: {fmt_tps(later)})"
        lines.append(line)
    return lines


def finish(members: Sequence[Subscription], lists: Mapping[str, list[TopicPartition]],
           explanation: list[str], transferring: frozenset[TopicPartition] = frozenset(),
           *, presorted: bool = False) -> GroupAssignment:
    """Build the result: every member present, lists sorted (``presorted``: already are)."""
    if presorted:
        out = {s.member_id: lists.get(s.member_id) or [] for s in members}
    else:
        out = {s.member_id: sorted(lists.get(s.member_id, ())) for s in members}
    return GroupAssignment(out, transferring, explanation)
