"""A cluster: the controller, the brokers and the topics, wired onto one world.

Kafka: a KRaft cluster. Replica placement follows Kafka's rack-unaware assignment
(``AdminUtils.assignReplicasToBrokers``) with a fixed start index, so partition p's
preferred leader is broker ``p mod N`` (in id order) and its followers the next brokers.
"""

from __future__ import annotations

from typing import Any

from kafkasim.cluster.broker import Broker
from kafkasim.cluster.controller import Controller
from kafkasim.cluster.log import PartitionLog
from kafkasim.records import TopicPartition
from kafkasim.sim.world import World


def assign_replicas(broker_ids: list[int], partitions: int, replication_factor: int) -> list[tuple[int, ...]]:
    """Kafka's rack-unaware placement with start index 0: leaders round-robin, followers shifted.

    Kafka: ``AdminUtils.assignReplicasToBrokers`` (random start index and shift; fixed here).
    """
    n = len(broker_ids)
    if not 1 <= replication_factor <= n:
        raise ValueError(f"replication factor {replication_factor} with {n} brokers")
    out = []
    shift = 0
    for p in range(partitions):
        if p > 0 and p % n == 0:
            shift += 1
        first = p % n
        replicas = [broker_ids[first]]
        for j in range(replication_factor - 1):
            replicas.append(broker_ids[(first + 1 + (shift + j) % (n - 1)) % n])
        out.append(tuple(replicas))
    return out


class Cluster:
    """The brokers and controller of one simulated Kafka cluster."""

    def __init__(self, world: World, num_brokers: int, broker_conf: dict[str, Any],
                 switches: dict[str, Any]) -> None:
        self.world = world
        self.broker_conf = broker_conf
        self.switches = switches
        self.controller = Controller(self)
        self.brokers: dict[int, Broker] = {}
        for i in range(1, num_brokers + 1):
            self.brokers[i] = Broker(self, i)
            self.controller.register(i)
        self.topic_configs: dict[str, dict[str, Any]] = {}
        self.started = False

    def create_topic(self, name: str, partitions: int, replication_factor: int,
                     config: dict[str, Any], assignment: list[tuple[int, ...]] | None = None) -> None:
        if assignment is None:
            assignment = assign_replicas(sorted(self.brokers), partitions, replication_factor)
        self.topic_configs[name] = config
        self.controller.create_topic(name, assignment, config)

    def add_partitions(self, name: str, partitions: int) -> None:
        """Grow topic ``name`` to ``partitions`` partitions (``kafka-topics --alter --partitions``):
        the new ones are placed as if the topic had been created with that many."""
        rec = self.controller.topics[name]
        if partitions <= rec.partitions:
            raise ValueError(f"topic {name} has {rec.partitions} partitions; it can only grow")
        rf = len(self.controller.partitions[TopicPartition(name, 0)].replicas)
        self.world.emit("topic.partitions", "controller", topic=name, partitions=partitions, before=rec.partitions)
        self.controller.add_partitions(name, assign_replicas(sorted(self.brokers), partitions, rf))

    def topic(self, name: str, partitions: int = 1, replication_factor: int = 1,
              config: dict[str, Any] | None = None) -> None:
        """Create a topic, its config validated by the registry under the brokers' defaults."""
        from kafkasim.config import topic_config

        self.create_topic(name, partitions, replication_factor, dict(topic_config(self.broker_conf, config,
                                                                                   f"topics.{name}.config")))

    def run(self, until_ms: int) -> None:
        """Run the simulation until ``until_ms`` (simulated milliseconds since the start)."""
        if not self.started:
            self.start()
        self.world.run(until_ms)

    def start(self) -> None:
        """Bootstrap: every broker learns the initial metadata, then heartbeats begin."""
        self.started = True
        records = self.controller.records_since(0)
        for b in self.brokers.values():
            b.apply_metadata(records)
        self.controller.start()
        for b in self.brokers.values():
            b.start()

    def broker(self, ref: int | str) -> Broker:
        """A broker by id (1) or node name ('broker-1')."""
        if isinstance(ref, str) and ref.startswith("broker-"):
            ref = int(ref.removeprefix("broker-"))
        return self.brokers[int(ref)]

    def partitions(self) -> list[TopicPartition]:
        return sorted(self.controller.partitions)

    def leader_log(self, tp: TopicPartition) -> PartitionLog | None:
        """The log of the partition's current leader (per the controller), or None if offline."""
        rec = self.controller.partitions[tp]
        if rec.leader < 0:
            return None
        return self.brokers[rec.leader].logs.get(tp)
