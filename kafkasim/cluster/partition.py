"""A partition as one broker sees it: leader or follower, ISR, the high-watermark rule.

Kafka: ``kafka.cluster.Partition`` and ``Replica`` (lastCaughtUpTime), KAFKA-15583 (strict
min-ISR, 3.7), KIP-320 (only followers on the current epoch count).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kafkasim.cluster.log import PartitionLog
from kafkasim.cluster.protocol import NO_LEADER
from kafkasim.records import TopicPartition


@dataclass(slots=True)
class FollowerState:
    """What the leader knows of a follower (Kafka's ``Replica``)."""

    leo: int = -1
    last_caught_up: int = 0
    last_fetch_leader_leo: int = 0
    last_fetch_time: int = 0


@dataclass(slots=True)
class DelayedProduce:
    """An acks=all request waiting for the HW to reach ``required`` on its partition."""

    required: int
    ctx: Any


@dataclass
class Partition:
    """In-memory replica state of one partition on one broker (lost on a crash; the log is not)."""

    tp: TopicPartition
    log: PartitionLog
    broker_id: int
    replicas: tuple[int, ...] = ()
    isr: tuple[int, ...] = ()
    leader: int = NO_LEADER
    leader_epoch: int = -1
    partition_epoch: int = -1
    min_isr: int = 1
    strict_min_isr: bool = True
    followers: dict[int, FollowerState] = field(default_factory=dict)
    pending_isr: tuple[int, ...] | None = None  # AlterPartition in flight
    pending_since: int = 0
    waiting: list[DelayedProduce] = field(default_factory=list)

    @property
    def is_leader(self) -> bool:
        return self.leader == self.broker_id

    @property
    def effective_min_isr(self) -> int:
        return min(self.min_isr, len(self.replicas))

    def maximal_isr(self) -> tuple[int, ...]:
        """ISR plus members whose addition is in flight (Kafka's ``maximalIsr``)."""
        if self.pending_isr is None:
            return self.isr
        return tuple(sorted(set(self.isr) | set(self.pending_isr)))

    def become_leader(self, now: int) -> None:
        """Reset follower tracking; ISR members count as caught up now (Kafka: ``makeLeader``)."""
        self.log.assign_epoch(self.leader_epoch)
        self.followers = {
            r: FollowerState(leo=-1, last_caught_up=now if r in self.isr else 0)
            for r in self.replicas if r != self.broker_id
        }
        self.pending_isr = None

    def new_hw(self, now: int | None = None, max_lag_ms: int = 30_000,
               ineligible: set[int] | frozenset[int] = frozenset()) -> int | None:
        """The HW the leader may move to now, or None if it must not move.

        HW = min LEO over the maximal ISR and over caught-up replicas waiting to join it
        (Kafka's ``maybeIncrementLeaderHW`` / ``shouldWaitForReplicaToJoinIsr``); under the strict
        rule (Kafka >= 3.7) it does not move at all while the committed ISR is smaller than
        min(min.insync.replicas, RF) (``isUnderMinIsr``).
        """
        log = self.log
        leo = log.leo
        if leo <= log.hw:
            return None  # the HW never passes the LEO: nothing below can move it
        if self.strict_min_isr and len(self.isr) < min(self.min_isr, len(self.replicas)):
            return None
        isr = self.isr if self.pending_isr is None else self.maximal_isr()
        hw = leo
        followers = self.followers
        for r, f in followers.items():
            if r in isr:
                if f.leo < 0:
                    return None
            elif now is None or f.leo < 0 or r in ineligible or not (
                    f.leo == leo or now - f.last_caught_up <= max_lag_ms):
                continue  # not a caught-up, ISR-eligible (unfenced) replica waiting to join
            if f.leo < hw:
                hw = f.leo
        for r in isr:
            if r != self.broker_id and r not in followers:
                return None
        return hw if hw > log.hw else None

    def update_follower(self, replica: int, fetch_offset: int, now: int) -> FollowerState:
        """Record a follower fetch at ``fetch_offset`` (its LEO); Kafka's lastCaughtUpTime rule."""
        f = self.followers.get(replica)
        if f is None:
            f = self.followers[replica] = FollowerState()
        leo = self.log.leo
        if fetch_offset >= leo:
            f.last_caught_up = now
        elif fetch_offset >= f.last_fetch_leader_leo:
            f.last_caught_up = max(f.last_caught_up, f.last_fetch_time)
        f.last_fetch_leader_leo = leo
        f.last_fetch_time = now
        f.leo = fetch_offset
        return f

    def out_of_sync(self, now: int, max_lag_ms: int) -> list[int]:
        """ISR followers not caught up for longer than replica.lag.time.max.ms."""
        out = []
        for r in self.isr:
            if r == self.broker_id:
                continue
            f = self.followers.get(r)
            if f is None:
                continue
            if f.leo != self.log.leo and now - f.last_caught_up > max_lag_ms:
                out.append(r)
        return out

    def in_sync(self) -> bool:
        """Every ISR follower that has fetched is at the log end offset: none can fall out of sync
        until the log or a follower's position changes."""
        leo = self.log.leo
        for r in self.isr:
            f = self.followers.get(r)
            if f is not None and f.leo != leo:
                return False
        return True

    def hw_waits_on_time(self, now: int, max_lag_ms: int, ineligible: set[int] | frozenset[int]) -> bool:
        """Whether a lagging replica outside the ISR holds the HW back only until it has gone
        ``replica.lag.time.max.ms`` without catching up (see :meth:`new_hw`): time alone may move the HW."""
        isr = self.maximal_isr()
        leo = self.log.leo
        for r, f in self.followers.items():
            if (r not in isr and 0 <= f.leo != leo and r not in ineligible
                    and now - f.last_caught_up <= max_lag_ms):
                return True
        return False

    def can_join_isr(self, replica: int) -> bool:
        """A follower rejoins when its LEO >= HW and >= the start of the leader's epoch."""
        f = self.followers.get(replica)
        if f is None or replica in self.isr:
            return False
        return f.leo >= self.log.hw and f.leo >= self.log.epoch_start(self.leader_epoch)
