"""RoundRobinAssignor ("roundrobin"): all partitions dealt in turn over a circle of members.

Kafka: ``org.apache.kafka.clients.consumer.RoundRobinAssignor`` (EAGER only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kafkasim.group.assignors._common import (
    finish,
    fmt_members,
    member_lines,
    prepare,
    static_first_order,
)
from kafkasim.group.assignors.base import GroupAssignment, RebalanceProtocol, Subscription
from kafkasim.records import TopicPartition


class RoundRobinAssignor:
    """Deal partitions (topics sorted, partitions ascending) with one cursor over the members.

    The cursor skips members not subscribed to the partition's topic and is never reset
    between topics. Balanced (max - min <= 1) only when subscriptions are identical.
    Kafka: ``RoundRobinAssignor.assign`` (``CircularIterator`` over sorted ``MemberInfo``).
    """

    name = "roundrobin"
    supported_protocols = (RebalanceProtocol.EAGER,)

    def assign(self, partitions_per_topic: Mapping[str, int],
               subscriptions: Sequence[Subscription]) -> GroupAssignment:
        members, topics = prepare(partitions_per_topic, subscriptions)
        order = static_first_order(members)
        ids = [s.member_id for s in order]
        subs = [frozenset(s.topics) for s in order]
        lists: dict[str, list[TopicPartition]] = {m: [] for m in ids}
        n = len(ids)
        cursor = 0
        skips = 0
        for topic, count in topics.items():  # topics are sorted by name
            for p in range(count):
                # Kafka: while the member under the cursor is not subscribed, advance it.
                while topic not in subs[cursor]:
                    cursor = (cursor + 1) % n
                    skips += 1
                lists[ids[cursor]].append(TopicPartition(topic, p))
                cursor = (cursor + 1) % n
        lines = [
            f"roundrobin: {sum(topics.values())} partition(s) in (topic, partition) order dealt "
            f"over the circle {fmt_members(ids)} (static members first by group.instance.id); "
            "owned partitions are ignored (eager)",
            f"the cursor skipped an unsubscribed member {skips} time(s) and is never reset "
            "between topics",
        ]
        lines += member_lines(members, lists)
        return finish(members, lists, lines, presorted=True)
