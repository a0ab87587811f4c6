"""RangeAssignor ("range"): each topic split into contiguous ranges among its subscribers.

Kafka: ``org.apache.kafka.clients.consumer.RangeAssignor`` (EAGER only).
Simplified: no rack-aware variant (racks are not modelled).
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


class RangeAssignor:
    """Per topic: subscribers in member order, ``n // k`` each, the first ``n % k`` get one more.

    Remainders are not spread across topics, so with several topics the first members
    accumulate them. Owned partitions and generations are ignored.
    Kafka: ``RangeAssignor.assignPartitions``.
    """

    name = "range"
    supported_protocols = (RebalanceProtocol.EAGER,)

    def assign(self, partitions_per_topic: Mapping[str, int],
               subscriptions: Sequence[Subscription]) -> GroupAssignment:
        members, topics = prepare(partitions_per_topic, subscriptions)
        order = static_first_order(members)
        lists: dict[str, list[TopicPartition]] = {s.member_id: [] for s in members}
        lines = ["range: per topic, partitions split into contiguous ranges over its subscribers "
                 "(static members first by group.instance.id, then member id); owned partitions "
                 "are ignored (eager)"]
        for topic, n in topics.items():
            subs = [s.member_id for s in order if topic in s.topics]
            quota, extra = divmod(n, len(subs))
            start = 0
            ranges = []
            for i, m in enumerate(subs):
                # Kafka: the first (n % k) members in order get quota + 1, ranges contiguous.
                size = quota + (1 if i < extra else 0)
                lists[m].extend(TopicPartition(topic, p) for p in range(start, start + size))
                if size:
                    ranges.append(f"{m}=[{start}..{start + size - 1}]" if size > 1
                                  else f"{m}=[{start}]")
                start += size
            lines.append(
                f"{topic}: {n} partition(s) over {len(subs)} subscriber(s) ({fmt_members(subs)}): "
                f"{quota} each, the first {extra} get one more -> {fmt_members(ranges)}")
        lines += member_lines(members, lists)
        return finish(members, lists, lines, presorted=True)
