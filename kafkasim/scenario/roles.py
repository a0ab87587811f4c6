"""Faults aimed by role, resolved to a broker when they fire.

A lesson about failover wants "crash the leader of orders-0", not "crash broker-2" (which
broker leads depends on the seed and on earlier faults). Three roles, named as Kafka names
them: ``leader:<topic>-<partition>`` (the partition's leader), ``coordinator:<group.id>``
(the group coordinator: the leader of the group's ``__consumer_offsets`` partition) and
``txn-coordinator:<transactional.id>`` (the leader of its ``__transaction_state``
partition). The controller's view is the truth at that moment; a ``restart``, ``heal`` or
``slow`` back to 0 of a role undoes the last crash, cut or slow aimed at it, on the broker
that one hit (the role may have moved since).
"""

from __future__ import annotations

from typing import Any

from kafkasim.records import TopicPartition

ROLES = ("leader", "coordinator", "txn-coordinator")


def is_role(name: str) -> bool:
    return isinstance(name, str) and name.split(":", 1)[0] in ROLES and ":" in name


def parse(name: str) -> tuple[str, str]:
    """``("leader", "orders-0")`` for ``"leader:orders-0"``."""
    kind, _, what = name.partition(":")
    return kind, what


def topic_partition(what: str) -> TopicPartition | None:
    topic, _, part = what.rpartition("-")
    return TopicPartition(topic, int(part)) if topic and part.isdigit() else None


def resolve(cluster: Any, name: str) -> str | None:
    """The broker playing ``name``'s role now (None when nobody does: offline, not created yet)."""
    from kafkasim.cluster.transactions import TXN_TOPIC
    from kafkasim.group.coordinator import OFFSETS_TOPIC, offsets_partition

    kind, what = parse(name)
    ctl = cluster.controller
    if kind == "leader":
        tp = topic_partition(what)
    else:
        topic = OFFSETS_TOPIC if kind == "coordinator" else TXN_TOPIC
        rec = ctl.topics.get(topic)
        tp = TopicPartition(topic, offsets_partition(what, rec.partitions)) if rec is not None else None
    part = ctl.partitions.get(tp) if tp is not None else None
    if part is None or part.leader < 0:
        return None
    return cluster.brokers[part.leader].name


__all__ = ["ROLES", "is_role", "parse", "resolve", "topic_partition"]
