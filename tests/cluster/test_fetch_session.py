"""Incremental fetch sessions (KIP-227): a quiet partition costs nothing per fetch round, while
what the leader knows of its followers (lastCaughtUpTime, for ISR shrinks) stays exact."""

from __future__ import annotations

from kafkasim.cluster.fetch_session import FetchSessionHandler
from kafkasim.cluster.protocol import FetchPartition, FetchRequest
from kafkasim.errors import KafkaError as E
from kafkasim.records import TopicPartition

IDLE = """
name: idle-sessions
seed: 1
duration_ms: 60000
cluster: {brokers: 3}
topics: [{name: t, partitions: 20, replication_factor: 3}]
"""


def record_fetches(sim, broker: int) -> list[tuple[int, int, int]]:
    """Wrap a leader's handle_fetch: (time, partitions in the request, partitions in the answer)."""
    b = sim.cluster.brokers[broker]
    seen: list[tuple[int, int, int]] = []
    real = b.handle_fetch

    def handle(req, reply):
        if req.replica_id < 0:
            return real(req, reply)
        n = len(req.partitions)
        real(req, lambda resp: (seen.append((sim.world.now, n, len(resp.partitions))), reply(resp)))

    b.handle_fetch = handle
    return seen


def test_quiet_rounds_name_no_partition(kit) -> None:
    """Once followers are caught up, each round's request and answer carry no partition at all."""
    sim = kit.build(IDLE)
    seen = record_fetches(sim, 1)
    sim.world.run(20000)
    late = [(n, m) for t, n, m in seen if t > 10000]
    assert len(late) > 20, "followers keep long-polling every replica.fetch.wait.max.ms"
    assert set(late) == {(0, 0)}


def test_only_the_partition_with_news_is_answered(kit) -> None:
    """A produced record wakes the follower's parked fetch; the answer names that partition only."""
    sim = kit.build(IDLE + """
producers:
  - name: p
    workload: {topic: t, count: 1, rate_per_s: 1, start_ms: 15000, partition: 0}
""")
    seen = record_fetches(sim, 1)
    sim.world.run(20000)
    answered = [m for t, _n, m in seen if t > 10000]
    assert max(answered) == 1 and sum(answered) >= 2  # the record, then the new high watermark
    assert all(log.leo == 1 for log in (kit.log(sim, b) for b in (1, 2, 3)))


def test_clean_follower_keeps_its_last_caught_up_time(kit) -> None:
    """Replica.lastCaughtUpTime is the follower's last fetch at the log end, even for rounds the
    session skipped: cut the follower, append, and the leader must date it from before the cut."""
    sim = kit.build(IDLE + """
producers:
  - name: p
    workload: {topic: t, count: 1, rate_per_s: 1, start_ms: 30000, partition: 0}
""")
    w = sim.world
    w.run(20000)
    w.net.cut("broker-1", "broker-2")
    w.run(31000)
    f = sim.cluster.brokers[1].parts[TopicPartition("t", 0)].followers[2]
    # its last round: a fetch that arrived before the cut, parked, and completed within
    # replica.fetch.wait.max.ms (a delayed fetch's completion reads the log again)
    assert 20000 - 502 <= f.last_caught_up <= 20000 + 500
    assert f.leo == 0 and kit.log(sim, 1).leo == 1


def test_unknown_session_is_refused_and_the_fetcher_opens_a_new_one(kit) -> None:
    sim = kit.build(IDLE)
    w = sim.world
    w.run(5000)
    got = []
    req = FetchRequest(3, "broker-3", 0, {}, session_id=999, session_epoch=4)
    sim.cluster.brokers[1].handle_fetch(req, got.append)
    w.run(5010)
    assert [r.error for r in got] == [E.FETCH_SESSION_ID_NOT_FOUND]


def test_handler_sends_changes_and_forgets() -> None:
    tp0, tp1 = TopicPartition("t", 0), TopicPartition("t", 1)
    h = FetchSessionHandler()
    parts, forgotten = h.diff({tp0: FetchPartition(0), tp1: FetchPartition(0)})
    assert set(parts) == {tp0, tp1} and forgotten == []
    h.handle_response(7, ok=True)
    assert (h.session_id, h.epoch) == (7, 1)
    parts, forgotten = h.diff({tp0: FetchPartition(5)})
    assert parts == {tp0: FetchPartition(5)} and forgotten == [tp1]
    h.handle_response(7, ok=True)
    assert h.diff({tp0: FetchPartition(5)}) == ({}, [])
    h.handle_response(7, ok=False)
    assert (h.session_id, h.epoch, h.sent) == (0, 0, {})
