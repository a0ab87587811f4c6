"""Incremental fetch sessions (KIP-227): a fetch costs what changed, not how many partitions it names.

A fetcher (a follower's ``ReplicaFetcherThread`` or a consumer) opens a session on the leader
with one full FetchRequest; afterwards each request carries only the partitions whose fetch
position changed (and the ones it no longer wants, ``forgotten``), and each response only
the partitions with something new: records, a new high watermark, last stable offset or log
start offset, an error or a diverging epoch. The leader keeps the session's partitions and
what it last told the fetcher about each.

The leader marks a partition *dirty* in every session that holds it whenever its state
changes (an append, a high-watermark or log-start move, a leadership or ISR change); a
partition that is not dirty has nothing to say and costs nothing per round. For a follower,
a clean partition is one it has caught up on: every round it sits out is a fetch at the
leader's log end offset, which under Kafka's rule (``Replica.updateFetchState``) only sets
``lastCaughtUpTime`` to the fetch time. The session remembers the time of its last fetch and
the leader writes that into the follower's state the moment the partition changes again
(:meth:`FetchSession.settle`), so ISR shrink timing (``replica.lag.time.max.ms``) is exact.

Kafka: ``FetchSession`` / ``FetchSessionCache`` / ``IncrementalFetchContext`` (server) and
``FetchSessionHandler`` (client).
Simplified: no session cache limit or eviction (``max.incremental.fetch.session.cache.slots``);
a client holds one session per leader, and opening a new one closes its old one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kafkasim.records import TopicPartition

#: ``FetchRequest`` session epochs (KIP-227): open a new session with a full request, or a
#: sessionless full fetch (``FINAL_EPOCH``).
INITIAL_EPOCH = 0
FINAL_EPOCH = -1


@dataclass(slots=True)
class CachedPartition:
    """The leader's copy of one session partition: the fetcher's position and what it was told."""

    fetch: Any  # protocol.FetchPartition: offset, current leader epoch, last fetched epoch, max bytes
    hw: int = -1
    lso: int = -1
    log_start: int = -1


@dataclass(slots=True, eq=False)
class FetchSession:
    """One incremental fetch session on a leader."""

    id: int
    client: str
    replica_id: int  # the follower's broker id, -1 for a consumer
    epoch: int = 1  # the epoch the next incremental request must carry
    partitions: dict[TopicPartition, CachedPartition] = field(default_factory=dict)
    dirty: set[TopicPartition] = field(default_factory=set)
    last_fetch_time: int = -1  # when the leader last read this session (arrival or delayed completion)
    parked: Any = None  # the DelayedFetch waiting in purgatory, if any
    full: bool = False  # a sessionless fetch: every partition is read and answered each time
    closed: bool = False
    max_bytes: int = 52428800
    isolation_level: str = "read_uncommitted"

    def settle(self, tp: TopicPartition, follower: Any) -> None:
        """Write the rounds a clean follower partition sat out into the leader's ``Replica`` state.

        Each was a fetch at the leader's log end offset, so each set lastCaughtUpTime and
        lastFetchTime to its time and lastFetchLeaderLogEndOffset to that offset.
        """
        if tp in self.dirty or follower is None or self.last_fetch_time <= follower.last_fetch_time:
            return
        follower.last_caught_up = follower.last_fetch_time = self.last_fetch_time
        follower.last_fetch_leader_leo = follower.leo


@dataclass(slots=True)
class FetchSessionHandler:
    """The fetcher's side of a session: what the leader holds, and the next request's changes.

    Kafka: ``FetchSessionHandler``. After a failed or lost request the handler forgets the
    session (``handleError``), so the next request is a full one that opens a new session.
    """

    session_id: int = 0  # 0: no session yet
    epoch: int = INITIAL_EPOCH
    sent: dict[TopicPartition, Any] = field(default_factory=dict)  # the session's partitions, as last sent

    def request(self, changes: dict[TopicPartition, Any]) -> tuple[dict[TopicPartition, Any], list[TopicPartition]]:
        """The partitions to send and the ones to forget, given ``changes`` (tp -> its
        FetchPartition, or None when no longer wanted); for a new session, ``changes`` must
        name every wanted partition."""
        parts: dict[TopicPartition, Any] = {}
        forgotten: list[TopicPartition] = []
        for tp, fp in changes.items():
            if fp is None:
                if self.sent.pop(tp, None) is not None:
                    forgotten.append(tp)
            elif self.epoch == INITIAL_EPOCH or self.sent.get(tp) != fp:
                parts[tp] = self.sent[tp] = fp
        return parts, forgotten

    def diff(self, wanted: dict[TopicPartition, Any]) -> tuple[dict[TopicPartition, Any], list[TopicPartition]]:
        """:meth:`request` for a fetcher that knows only the full set it wants this round."""
        changes: dict[TopicPartition, Any] = dict(wanted)
        for tp in self.sent:
            if tp not in wanted:
                changes[tp] = None
        return self.request(dict(sorted(changes.items())))

    def handle_response(self, session_id: int, ok: bool) -> None:
        """A response arrived: a new session's id is learned; an error closes the session."""
        if not ok:
            self.reset()
            return
        if self.epoch == INITIAL_EPOCH:
            self.session_id = session_id
        self.epoch += 1

    def reset(self) -> None:
        self.session_id, self.epoch, self.sent = 0, INITIAL_EPOCH, {}
