"""A client's metadata cache: partition counts and leaders, refreshed from any broker.

Kafka: ``org.apache.kafka.clients.Metadata`` / ``NetworkClient`` metadata updates; leader
epochs let a client ignore metadata older than what it already knows (KIP-320).
Simplified: a refresh asks brokers in turn until one can be sent to; the answer is the
broker's own metadata cache, which may be stale (a fenced, partitioned broker still says
it leads).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kafkasim.records import TopicPartition

if TYPE_CHECKING:
    from kafkasim.clients.network_client import NetworkClient
    from kafkasim.cluster.cluster import Cluster


class ClientMetadata:
    """Leaders and partition counts as one client last heard them."""

    def __init__(self, cluster: Cluster, nc: NetworkClient, backoff_ms: int, on_update: Callable[[], None],
                 max_age_ms: int = 300_000) -> None:
        self.cluster = cluster
        self.world = nc.world
        self.nc = nc
        self.client = client = nc.name
        self.backoff_ms = backoff_ms
        self.max_age_ms = max_age_ms  # metadata.max.age.ms: refresh even when nothing failed
        self._timers = self.world.timers()
        self._expiry: Any = None
        self.on_update = on_update
        self.partition_counts: dict[str, int] = {}
        self.leaders: dict[TopicPartition, tuple[int, int]] = {}  # tp -> (leader id, leader epoch)
        self._inflight = False
        self._last_request = -(10**9)
        self._next_broker = world_rng_start(self.world, client, len(cluster.brokers))
        self.generation = 0  # bumps on every applied update

    def leader(self, tp: TopicPartition) -> int:
        return self.leaders.get(tp, (-1, -1))[0]

    def leader_epoch(self, tp: TopicPartition) -> int:
        return self.leaders.get(tp, (-1, -1))[1]

    def refresh(self) -> None:
        """Ask a broker for fresh metadata (at most one request in flight; backoff between)."""
        now = self.world.now
        if self._inflight or now - self._last_request < self.backoff_ms:
            return
        ids = sorted(self.cluster.brokers)
        for i in range(len(ids)):
            b = self.cluster.brokers[ids[(self._next_broker + i) % len(ids)]]
            if self.nc.send(b.name, b.handle_metadata, self.client, self._on_metadata, on_error=self._unanswered):
                self._next_broker = (self._next_broker + i + 1) % len(ids)
                self._last_request = now
                self._inflight = True
                return
        self._last_request = now  # no broker reachable: try again after the backoff

    def _unanswered(self, _err: Any) -> None:
        """Timed out or disconnected: ask again (another broker, after the backoff)."""
        self._inflight = False
        self.refresh()

    def _on_metadata(self, topics: dict[str, Any], leaders: dict[TopicPartition, tuple[int, int]]) -> None:
        self._inflight = False
        for name, rec in topics.items():
            self.partition_counts[name] = rec.partitions
        for tp, (leader, epoch) in leaders.items():
            known = self.leaders.get(tp)
            if known is None or epoch >= known[1]:
                self.leaders[tp] = (leader, epoch)
        self.generation += 1
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry = self._timers.add(self.max_age_ms, self._expired)
        self.on_update()

    def _expired(self) -> None:
        """metadata.max.age.ms passed without an update (Kafka: ``Metadata.timeToNextUpdate``)."""
        self._last_request = -(10**9)
        self.refresh()

    def bootstrap(self) -> None:
        """Initial metadata, as a client's first request to a bootstrap server."""
        self.refresh()


def world_rng_start(world: Any, client: str, n: int) -> int:
    return world.rng(f"metadata:{client}").randrange(max(n, 1))
