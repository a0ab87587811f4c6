"""kafkasim: a deterministic, in-memory, discrete-event simulator of Apache Kafka.

The public API: build a :func:`cluster`, create topics, attach confluent-kafka shaped
:class:`Producer` and :class:`Consumer` clients, run simulated processes, read the trace.
"""

from __future__ import annotations

from typing import Any

from kafkasim._version import __version__
from kafkasim.clients.consumer import Consumer
from kafkasim.clients.producer import Producer
from kafkasim.cluster.cluster import Cluster
from kafkasim.errors import ConfigError, KafkaError, KafkaException, KafkasimError, ScenarioError
from kafkasim.records import OFFSET_BEGINNING, OFFSET_END, Message, RecordMetadata, TopicPartition

__all__ = [
    "OFFSET_BEGINNING", "OFFSET_END", "Cluster", "ConfigError", "Consumer", "KafkaError", "KafkaException",
    "KafkasimError", "Message", "Producer", "RecordMetadata", "ScenarioError", "TopicPartition", "__version__",
    "cluster",
]


def cluster(brokers: int = 3, *, seed: int = 0, config: dict[str, Any] | None = None,
            switches: dict[str, Any] | None = None) -> Cluster:
    """A new simulated cluster of ``brokers`` brokers on its own world (simulated time 0).

    ``config`` is broker config (Kafka keys); ``switches`` are kafkasim's version switches
    (``strict_min_isr``, ``truncation``, ...). Both are validated by the config registry.
    """
    from kafkasim import config as registry
    from kafkasim.sim.world import World

    broker_conf = registry.check_broker(registry.resolve("broker", config, "config"), "config")
    return Cluster(World(seed), brokers, dict(broker_conf), dict(registry.resolve("kafkasim", switches, "switches")))
