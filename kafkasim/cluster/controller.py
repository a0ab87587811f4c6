"""The KRaft controller: broker liveness, the metadata log, ISR commits and leader elections.

Kafka: ``QuorumController`` / ``ReplicationControlManager`` / ``PartitionChangeBuilder`` /
``BrokerHeartbeatManager``. Brokers heartbeat every ``broker.heartbeat.interval.ms``; one
silent for ``broker.session.timeout.ms`` is fenced: removed from every ISR (never emptying
one) and replaced as leader. A broker process that starts again registers anew
(BrokerRegistration with a new incarnation): while its previous incarnation's session is
still valid the controller refuses it with DUPLICATE_BROKER_REGISTRATION, so a restart within
``broker.session.timeout.ms`` is fenced and loses its leaderships all the same; once
registered it stays fenced until its heartbeat shows it has caught up with the metadata log
(``ClusterControlManager.registerBroker``, ``BrokerHeartbeatManager``). Clean election
keeps a live ISR leader, else takes the first live ISR replica in assignment order; unclean
election (``unclean.leader.election.enable``) takes the first live replica and resets the ISR
to it. Every leader change bumps the leader
epoch; every change bumps the partition epoch.
Simplified: the controller quorum is one node that never fails; metadata records are pushed
to brokers (and re-sent with every heartbeat response) instead of fetched from a Raft log.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from kafkasim.cluster.protocol import (
    NO_LEADER,
    AlterPartition,
    BrokerFencing,
    PartitionRecord,
    TopicRecord,
)
from kafkasim.errors import KafkaError as E
from kafkasim.records import TopicPartition

if TYPE_CHECKING:
    from kafkasim.cluster.cluster import Cluster

#: How often the controller looks for partitions whose preferred leader could lead again.
#: Kafka: leader.imbalance.check.interval.seconds (300 s).


@dataclass
class BrokerRegistration:
    broker_id: int
    fenced: bool = True
    last_heartbeat: int = -1
    sent_offset: int = 0  # metadata offset the broker reported
    incarnation: int = 1  # which start of the broker process registered
    register_offset: int = 0  # the metadata log's end at registration: caught up past it, it may be unfenced


class Controller:
    """The cluster's single source of truth for partition leadership and ISR."""

    name = "controller"

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.world = cluster.world
        self.conf = cluster.broker_conf
        self.brokers: dict[int, BrokerRegistration] = {}
        self.partitions: dict[TopicPartition, PartitionRecord] = {}
        self.topics: dict[str, TopicRecord] = {}
        self.log: list[Any] = []  # the metadata log
        self.next_producer_id = 1000
        self.world.net.add_node(self.name, "controller")

    def allocate_producer_id(self) -> int:
        self.next_producer_id += 1
        return self.next_producer_id - 1

    def start(self) -> None:
        if self.conf["auto.leader.rebalance.enable"]:
            self.world.at(self.conf["leader.imbalance.check.interval.seconds"] * 1000, self._preferred_check)

    # -- metadata log ---------------------------------------------------------------------------
    def _publish(self, rec: Any) -> None:
        self.log.append(rec)
        if isinstance(rec, PartitionRecord):
            self.partitions[rec.tp] = rec
        offset = len(self.log) - 1
        for reg in self.brokers.values():
            if not reg.fenced:
                self._push(reg.broker_id, [(offset, rec)])

    def _push(self, broker_id: int, records: list[tuple[int, Any]]) -> None:
        b = self.cluster.brokers[broker_id]
        self.world.net.send(self.name, b.name, b.apply_metadata, records)

    def records_since(self, offset: int) -> list[tuple[int, Any]]:
        return [(i, self.log[i]) for i in range(offset, len(self.log))]

    def create_topic(self, name: str, assignment: list[tuple[int, ...]], config: dict[str, Any]) -> None:
        """Create a topic with the given replica assignment; leaders are the first live replica."""
        topic = TopicRecord(name, len(assignment), config)
        self.topics[name] = topic
        self._publish(topic)
        self._create_partitions(name, assignment, 0)

    def add_partitions(self, name: str, assignment: list[tuple[int, ...]]) -> None:
        """CreatePartitions: the topic grows to ``len(assignment)`` partitions; existing ones keep
        their replicas (Kafka can only add partitions, never remove them)."""
        old = self.topics[name]
        topic = TopicRecord(name, len(assignment), old.config)
        self.topics[name] = topic
        self._publish(topic)
        self._create_partitions(name, assignment[old.partitions:], old.partitions)

    def _create_partitions(self, name: str, assignment: list[tuple[int, ...]], first: int) -> None:
        for p, replicas in enumerate(assignment, first):
            tp = TopicPartition(name, p)
            live = tuple(r for r in replicas if not self.brokers[r].fenced) if self.brokers else replicas
            leader = live[0] if live else NO_LEADER
            rec = PartitionRecord(tp, tuple(replicas), live or tuple(replicas[:1]), leader, 0, 0)
            self.world.emit("partition.created", self.name, topic=name, partition=p, replicas=list(replicas))
            self._publish(rec)
            self._emit_leader(rec, "initial")

    # -- broker liveness ------------------------------------------------------------------------
    def register(self, broker_id: int) -> None:
        """A broker of the cluster as it is formed (time 0): registered and unfenced."""
        self.brokers[broker_id] = BrokerRegistration(broker_id, fenced=False, last_heartbeat=self.world.now)

    def handle_register(self, broker_id: int, incarnation: int, client: str, reply: Any) -> None:
        """BrokerRegistration from a broker process that started again (a new incarnation)."""
        reg = self.brokers.get(broker_id)
        if reg is not None and reg.incarnation != incarnation and not reg.fenced:
            # the previous incarnation's session is still valid: "Another broker is registered
            # with that broker id" until broker.session.timeout.ms after its last heartbeat
            self.world.emit("broker.register", self.name, broker=broker_id, incarnation=incarnation,
                            error="DUPLICATE_BROKER_REGISTRATION")
            self.world.net.send(self.name, client, reply, E.DUPLICATE_BROKER_REGISTRATION)
            return
        if reg is None or reg.incarnation != incarnation:
            self.brokers[broker_id] = reg = BrokerRegistration(broker_id, fenced=True, last_heartbeat=self.world.now,
                                                               incarnation=incarnation, register_offset=len(self.log))
            self.world.emit("broker.register", self.name, broker=broker_id, incarnation=incarnation, error="NONE")
        self.world.net.send(self.name, client, reply, E.NONE)

    def handle_heartbeat(self, broker_id: int, metadata_offset: int) -> None:
        reg = self.brokers[broker_id]
        now = self.world.now
        reg.last_heartbeat = now
        self.world.at(self.conf["broker.session.timeout.ms"], self._check_session, broker_id, now)
        if metadata_offset < len(self.log):
            self._push(broker_id, self.records_since(metadata_offset))
        if reg.fenced and metadata_offset >= reg.register_offset:  # caught up since it registered
            reg.fenced = False
            self.world.emit("broker.unfenced", self.name, broker=broker_id)
            self._publish(BrokerFencing(broker_id, False))
            self._on_unfenced(broker_id)

    def _check_session(self, broker_id: int, heartbeat_at: int) -> None:
        reg = self.brokers[broker_id]
        if reg.last_heartbeat == heartbeat_at and not reg.fenced:
            reg.fenced = True
            self.world.emit("broker.fenced", self.name, broker=broker_id)
            self._publish(BrokerFencing(broker_id, True))
            self._on_fenced(broker_id)

    def _live(self, broker_id: int) -> bool:
        reg = self.brokers.get(broker_id)
        return reg is not None and not reg.fenced

    def _unclean_allowed(self, tp: TopicPartition) -> bool:
        return bool(self.topics[tp.topic].config["unclean.leader.election.enable"])

    def _on_fenced(self, broker_id: int) -> None:
        for tp in sorted(self.partitions):
            rec = self.partitions[tp]
            if broker_id not in rec.replicas:
                continue
            if rec.leader == broker_id:
                self._elect(rec, exclude=broker_id, reason="fenced")
            elif broker_id in rec.isr and len(rec.isr) > 1:
                new = replace(rec, isr=tuple(r for r in rec.isr if r != broker_id),
                              partition_epoch=rec.partition_epoch + 1)
                self._publish(new)
                self.world.emit("isr.change", self.name, topic=tp.topic, partition=tp.partition,
                                isr=list(new.isr), leader=new.leader, reason="fenced")

    def _on_unfenced(self, broker_id: int) -> None:
        for tp in sorted(self.partitions):
            rec = self.partitions[tp]
            if rec.leader == NO_LEADER and broker_id in rec.replicas:
                self._elect(rec, exclude=None, reason="unfenced")

    def _elect(self, rec: PartitionRecord, exclude: int | None, reason: str) -> None:
        """Clean election from the live ISR in replica order; unclean if allowed; else offline."""
        tp = rec.tp
        isr_live = [r for r in rec.replicas if r in rec.isr and r != exclude and self._live(r)]
        if isr_live:
            leader = isr_live[0]
            # KRaft never empties the ISR: the fenced leader leaves it only if others remain
            isr = tuple(r for r in rec.isr if r != exclude) or rec.isr
            new = replace(rec, leader=leader, isr=isr, leader_epoch=rec.leader_epoch + 1,
                          partition_epoch=rec.partition_epoch + 1)
            self._publish(new)
            self._emit_leader(new, "clean")
            return
        live = [r for r in rec.replicas if r != exclude and self._live(r)]
        if live and self._unclean_allowed(tp):
            leader = live[0]
            new = replace(rec, leader=leader, isr=(leader,), leader_epoch=rec.leader_epoch + 1,
                          partition_epoch=rec.partition_epoch + 1)
            self._publish(new)
            self._emit_leader(new, "unclean")
            return
        if rec.leader != NO_LEADER:
            isr = tuple(r for r in rec.isr if r != exclude) or rec.isr
            new = replace(rec, leader=NO_LEADER, isr=isr, leader_epoch=rec.leader_epoch + 1,
                          partition_epoch=rec.partition_epoch + 1)
            self._publish(new)
            self.world.emit("partition.offline", self.name, topic=tp.topic, partition=tp.partition,
                            isr=list(new.isr), leader_epoch=new.leader_epoch)

    def _emit_leader(self, rec: PartitionRecord, election: str) -> None:
        self.world.emit("leader.elected", self.name, topic=rec.tp.topic, partition=rec.tp.partition,
                        leader=rec.leader, leader_epoch=rec.leader_epoch, isr=list(rec.isr),
                        election=election)

    def _preferred_check(self) -> None:
        """auto.leader.rebalance.enable: move leadership back to the preferred replica."""
        for tp in sorted(self.partitions):
            rec = self.partitions[tp]
            preferred = rec.replicas[0]
            if rec.leader != preferred and preferred in rec.isr and self._live(preferred):
                new = replace(rec, leader=preferred, leader_epoch=rec.leader_epoch + 1,
                              partition_epoch=rec.partition_epoch + 1)
                self._publish(new)
                self._emit_leader(new, "preferred")
        self.world.at(self.conf["leader.imbalance.check.interval.seconds"] * 1000, self._preferred_check)

    # -- AlterPartition (ISR changes proposed by leaders) ----------------------------------------
    def handle_alter_partition(self, req: AlterPartition) -> None:
        rec = self.partitions.get(req.tp)
        b = self.cluster.brokers[req.broker]
        ok = (
            rec is not None and rec.leader == req.broker and rec.leader_epoch == req.leader_epoch
            and rec.partition_epoch == req.partition_epoch and self._live(req.broker)
            and all(self._live(r) or r in rec.isr for r in req.new_isr)
        )
        if not ok:
            self.world.net.send(self.name, b.name, b.alter_partition_failed, req.tp)
            return
        assert rec is not None
        reason = "expand" if len(req.new_isr) > len(rec.isr) else "shrink"
        new = replace(rec, isr=req.new_isr, partition_epoch=rec.partition_epoch + 1)
        self._publish(new)
        self.world.emit("isr.change", self.name, topic=req.tp.topic, partition=req.tp.partition,
                        isr=list(new.isr), leader=new.leader, reason=reason)
