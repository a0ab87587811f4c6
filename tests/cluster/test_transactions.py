"""The transaction coordinator and the broker side of transactions.

Rules (kafka-semantics §7, §9): InitProducerId bumps the epoch of a transactional.id and
fences every older instance; an open transaction is aborted by a new InitProducerId or by
``transaction.timeout.ms`` (epoch bumped); EndTxn durably records PrepareCommit/PrepareAbort,
then a COMMIT/ABORT marker goes into every registered partition, the group's
``__consumer_offsets`` partition included; pending transactional offsets become committed
offsets only with the COMMIT marker and vanish with ABORT; OffsetFetch answers
UNSTABLE_OFFSET_COMMIT while they are pending; the LSO is the first offset of the oldest
open transaction, capped at the HW; a new coordinator finishes a transaction that was past
its point of no return. Kafka: TransactionCoordinator, TransactionStateManager,
TransactionMarkerChannelManager, GroupMetadataManager.handleTxnCompletion, ProducerStateManager.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import pytest

import kafkasim
from kafkasim.check.delivery import analyse
from kafkasim.cluster.log import (
    CONTROL_ABORT,
    CONTROL_COMMIT,
    CONTROL_NONE,
    PartitionLog,
    RecordBatch,
)
from kafkasim.cluster.transactions import TXN_TOPIC, TransactionCoordinator, TxnState
from kafkasim.cluster.transactions import install as install_transactions
from kafkasim.config import topic_config
from kafkasim.errors import KafkaError, KafkaException
from kafkasim.group.coordinator import OFFSETS_TOPIC, GroupCoordinator, offsets_partition
from kafkasim.group.coordinator import install as install_groups
from kafkasim.records import TopicPartition

E = KafkaError
T0, T1 = TopicPartition("t", 0), TopicPartition("t", 1)
NO_GROUP_FENCING = {"generation": -1, "member_id": ""}  # a group without members: KIP-447 check skipped


# -- helpers ----------------------------------------------------------------------------------------
def make_cluster(brokers: int = 3, partitions: int = 2, seed: int = 1, config: dict | None = None,
                 switches: dict | None = None, start: bool = True) -> kafkasim.Cluster:
    c = kafkasim.cluster(brokers, seed=seed, config=config, switches=switches)
    c.topic("t", partitions, min(3, brokers))
    install_transactions(c)
    install_groups(c)
    if start:
        c.start()
    return c


def spawn(c: kafkasim.Cluster, body: Callable[[dict], Generator[Any, Any, None]]) -> dict:
    """Run ``body(out)`` as a simulated process; ``out`` gets "done" (time) or "error" (KafkaError)."""
    out: dict[str, Any] = {}

    def proc() -> Generator[Any, Any, None]:
        try:
            yield from body(out)
            out["done"] = c.world.now
        except KafkaException as exc:
            out["error"] = exc.error
            out["error_at"] = c.world.now

    c.world.process(proc())
    return out


def producer(c: kafkasim.Cluster, name: str, tid: str = "tx", **conf: Any) -> kafkasim.Producer:
    return kafkasim.Producer({"transactional.id": tid, **conf}, c, name)


def leader_log(c: kafkasim.Cluster, tp: TopicPartition) -> PartitionLog:
    log = c.leader_log(tp)
    assert log is not None, f"{tp} is offline"
    return log


def markers(log: PartitionLog) -> list[tuple[int, int, int, int]]:
    """(offset, control, producer id, producer epoch) of every control batch."""
    return [(b.base_offset, b.control, b.producer_id, b.producer_epoch) for b in log.batches if b.control]


def values(log: PartitionLog) -> list[Any]:
    return [v for b in log.batches if not b.control for v in (b.values or (None,) * b.count)]


def txn_coordinator(c: kafkasim.Cluster, tid: str) -> TransactionCoordinator:
    tp = c.brokers[1].txn_coordinator.partition_for(tid)
    return c.brokers[c.controller.partitions[tp].leader].txn_coordinator


def offsets_tp(c: kafkasim.Cluster, gid: str) -> TopicPartition:
    return TopicPartition(OFFSETS_TOPIC, offsets_partition(gid, c.broker_conf["offsets.topic.num.partitions"]))


def group_coordinator(c: kafkasim.Cluster, gid: str) -> GroupCoordinator:
    return c.brokers[c.controller.partitions[offsets_tp(c, gid)].leader].coordinator


def events(c: kafkasim.Cluster, kind: str, **match: Any) -> list:
    return [e for e in c.world.trace.of(kind) if all(e.data.get(k) == v for k, v in match.items())]


def meta(tid: str = "g") -> dict[str, Any]:
    return {"group_id": tid, **NO_GROUP_FENCING}


# -- InitProducerId and fencing ----------------------------------------------------------------------
def test_init_producer_id_bumps_the_epoch_on_every_call() -> None:
    """§9: initTransactions bumps the epoch of the transactional.id; the producer id stays."""
    c = make_cluster()
    got: list[tuple[int, int]] = []

    def body(out: dict) -> Generator:
        for i in range(3):
            p = producer(c, f"p{i}")
            yield p.init_transactions()
            got.append((p.producer_id, p.producer_epoch))
        yield p.init_transactions()  # the same instance again: one more bump
        got.append((p.producer_id, p.producer_epoch))

    out = spawn(c, body)
    c.run(5000)
    assert "done" in out, out
    assert [e for _pid, e in got] == [0, 1, 2, 3]
    assert len({pid for pid, _e in got}) == 1 and got[0][0] >= 0
    m = txn_coordinator(c, "tx").txns["tx"]
    assert (m.producer_id, m.epoch, m.state) == (got[0][0], 3, TxnState.EMPTY)
    assert [e.data["producer_epoch"] for e in events(c, "txn.init")] == [0, 1, 2, 3]


def test_new_instance_fences_the_old_one_mid_transaction() -> None:
    """§9: a zombie's produce fails with INVALID_PRODUCER_EPOCH, which only makes its transaction
    abortable (KIP-588): its commit fails with that error without reaching the coordinator, and
    the abort the application then sends is refused with PRODUCER_FENCED (the coordinator knows
    a newer epoch). It learns it is fenced (txn.fenced) and every later call fails."""
    c = make_cluster()
    old, new = producer(c, "old"), producer(c, "new")
    res: dict[str, Any] = {}

    def zombie(out: dict) -> Generator:
        yield old.init_transactions()
        old.begin_transaction()
        old.produce("t", value="a", partition=0)
        yield old.flush()
        yield c.world.timeout(2000)  # meanwhile the new instance initialises
        old.produce("t", value="z", partition=0)
        yield old.flush()
        res["epoch"] = old.producer_epoch
        try:
            yield old.commit_transaction()
        except KafkaException as exc:
            res["commit"] = exc.error
            assert not events(c, "txn.fenced", producer="old")  # not fenced yet: only abortable
        yield old.abort_transaction()

    def successor(out: dict) -> Generator:
        yield c.world.timeout(500)
        yield new.init_transactions()

    z = spawn(c, zombie)
    n = spawn(c, successor)
    c.run(6000)
    assert "done" in n and new.producer_epoch > res["epoch"]
    assert res["commit"] is E.INVALID_PRODUCER_EPOCH
    assert z.get("error") is E.PRODUCER_FENCED
    fails = events(c, "produce.fail", producer="old")
    assert fails and {f.data["error"] for f in fails} <= {"INVALID_PRODUCER_EPOCH", "PRODUCER_FENCED"}
    assert events(c, "txn.fenced", producer="old")
    log = leader_log(c, T0)
    assert "z" not in values(log)
    # the open transaction of the zombie was aborted, with the bumped epoch
    assert [(ctl, ep > res["epoch"]) for _o, ctl, _pid, ep in markers(log)] == [(CONTROL_ABORT, True)]
    with pytest.raises(KafkaException) as exc:
        old.begin_transaction()
    assert exc.value.error is E.PRODUCER_FENCED
    later = spawn(c, lambda out: (yield old.abort_transaction()))
    c.run(7000)
    assert later.get("error") is E.PRODUCER_FENCED


def _zombie_between_transactions() -> tuple[kafkasim.Cluster, dict]:
    c = make_cluster()
    old, new = producer(c, "old"), producer(c, "new")

    def zombie(out: dict) -> Generator:
        yield old.init_transactions()
        old.begin_transaction()
        old.produce("t", value="first", partition=0)
        yield old.commit_transaction()
        yield c.world.timeout(2000)
        old.begin_transaction()
        out["began"] = c.world.now
        old.produce("t", value="late", partition=1)
        yield old.commit_transaction()

    z = spawn(c, zombie)
    spawn(c, lambda out: (yield c.world.timeout(1000)) or (yield new.init_transactions()))
    c.run(6000)
    return c, z


def test_zombie_between_transactions_cannot_register_a_partition() -> None:
    """A zombie that starts a new transaction after the bump is refused at AddPartitionsToTxn
    (PRODUCER_FENCED): nothing it sends reaches the log, and it cannot begin another one."""
    c, z = _zombie_between_transactions()
    assert values(leader_log(c, T0)) == ["first"]
    assert "late" not in values(leader_log(c, T1))
    assert not [e for e in events(c, "log.append", producer="old") if e.t > 1000]
    (fenced,) = events(c, "txn.fenced", producer="old")
    assert fenced.data["error"] == "PRODUCER_FENCED"
    assert fenced.t >= z["began"]


def test_zombie_commit_fails_promptly_with_producer_fenced() -> None:
    """§9: a fenced producer's commitTransaction fails with ProducerFencedException (Java: the
    Sender aborts undrained batches once the transaction manager has a fatal error)."""
    c, z = _zombie_between_transactions()
    assert z.get("error") is E.PRODUCER_FENCED
    assert z["error_at"] - z["began"] < 1000


def test_init_with_an_open_transaction_aborts_it_everywhere() -> None:
    """§9: InitProducerId aborts the previous instance's open transaction: an ABORT marker in
    every registered partition, the offsets partition included; its offsets never commit."""
    c = make_cluster()
    old, new = producer(c, "old"), producer(c, "new")
    otp = offsets_tp(c, "g")

    def first(out: dict) -> Generator:
        yield old.init_transactions()
        old.begin_transaction()
        old.produce("t", value="a", partition=0)
        old.produce("t", value="b", partition=1)
        yield old.send_offsets_to_transaction([(T0, 5), (T1, 7)], meta())
        yield old.flush()
        out["open"] = True

    o = spawn(c, first)
    c.run(1000)
    assert o.get("open")
    pid = old.producer_id
    assert group_coordinator(c, "g").groups["g"].pending_txn == {pid: {T0: 5, T1: 7}}
    for tp in (T0, T1):
        assert leader_log(c, tp).lso == 0 < leader_log(c, tp).hw  # the open transaction holds back the LSO
    spawn(c, lambda out: (yield new.init_transactions()))
    c.run(3000)
    assert new.producer_epoch > old.producer_epoch
    for tp in (T0, T1, otp):
        log = leader_log(c, tp)
        ms = markers(log)
        assert [(ctl, p) for _o, ctl, p, _e in ms] == [(CONTROL_ABORT, pid)], (tp, ms)
        assert log.lso == log.hw
        assert not log.ongoing
    assert leader_log(c, T0).aborted == [(pid, 0, 1)]
    g = group_coordinator(c, "g").groups["g"]
    assert g.pending_txn == {} and g.offsets == {}
    aborting = [e for e in events(c, "txn.state", state="PrepareAbort")]
    assert aborting and sorted(map(tuple, aborting[0].data["partitions"])) == sorted(
        [("t", 0), ("t", 1), (OFFSETS_TOPIC, otp.partition)])


# -- commit and abort ---------------------------------------------------------------------------------
def test_commit_writes_a_commit_marker_into_every_partition_including_offsets() -> None:
    c = make_cluster()
    p = producer(c, "p")
    otp = offsets_tp(c, "g")

    def body(out: dict) -> Generator:
        yield p.init_transactions()
        p.begin_transaction()
        p.produce("t", value="a", partition=0)
        p.produce("t", value="b", partition=1)
        yield p.send_offsets_to_transaction([(T0, 3), (T1, 4)], meta())
        yield p.commit_transaction()

    out = spawn(c, body)
    c.run(2000)
    assert "done" in out, out
    for tp in (T0, T1, otp):
        log = leader_log(c, tp)
        assert [(ctl, pid, ep) for _o, ctl, pid, ep in markers(log)] == [
            (CONTROL_COMMIT, p.producer_id, p.producer_epoch)], tp
        assert log.lso == log.hw == log.leo
    assert group_coordinator(c, "g").committed("g") == {T0: 3, T1: 4}
    states = [e.data["state"] for e in events(c, "txn.state", transactional_id="tx")]
    assert states[-2:] == ["PrepareCommit", "CompleteCommit"]
    # the producer is answered once PrepareCommit is durable (the point of no return), not before
    prepare = events(c, "txn.state", state="PrepareCommit")[0]
    end = events(c, "txn.end", result="commit")[0]
    assert prepare.seq < end.seq


def test_pending_offsets_become_committed_exactly_with_the_commit_marker() -> None:
    """§9: 'Pending offsets become the group's committed offsets only with a COMMIT marker.'"""
    c = make_cluster()
    p = producer(c, "p")
    otp = offsets_tp(c, "g")

    def body(out: dict) -> Generator:
        yield p.init_transactions()
        p.begin_transaction()
        p.produce("t", value="a", partition=0)
        yield p.send_offsets_to_transaction([(T0, 1)], meta())
        yield c.world.timeout(500)
        yield p.commit_transaction()

    out = spawn(c, body)
    saw_pending = False
    while "done" not in out:
        assert c.world.now < 3000, "the transaction did not complete"
        c.run(c.world.now + 1)
        gc = group_coordinator(c, "g")
        has_marker = any(ctl == CONTROL_COMMIT for _o, ctl, _p, _e in markers(leader_log(c, otp)))
        committed = gc.committed("g")
        assert (committed == {T0: 1}) == has_marker, (c.world.now, committed, has_marker)
        saw_pending |= bool(gc.groups.get("g") and gc.groups["g"].pending_txn)
    assert saw_pending
    c.run(c.world.now + 100)
    assert group_coordinator(c, "g").committed("g") == {T0: 1}


def test_abort_discards_pending_offsets_and_keeps_the_committed_ones() -> None:
    c = make_cluster()
    p = producer(c, "p")
    otp = offsets_tp(c, "g")

    def body(out: dict) -> Generator:
        yield p.init_transactions()
        p.begin_transaction()
        p.produce("t", value="a", partition=0)
        yield p.send_offsets_to_transaction([(T0, 1)], meta())
        yield p.commit_transaction()
        p.begin_transaction()
        p.produce("t", value="b", partition=0)
        yield p.send_offsets_to_transaction([(T0, 9)], meta())
        yield p.abort_transaction()

    out = spawn(c, body)
    c.run(3000)
    assert "done" in out, out
    gc = group_coordinator(c, "g")
    assert gc.committed("g") == {T0: 1}
    assert gc.groups["g"].pending_txn == {}
    assert [ctl for _o, ctl, _p, _e in markers(leader_log(c, otp))] == [CONTROL_COMMIT, CONTROL_ABORT]
    assert [ctl for _o, ctl, _p, _e in markers(leader_log(c, T0))] == [CONTROL_COMMIT, CONTROL_ABORT]


def test_offset_fetch_answers_unstable_offset_commit_while_offsets_are_pending() -> None:
    """§9 / KIP-447: OffsetFetch for a partition with pending transactional offsets answers
    UNSTABLE_OFFSET_COMMIT; other partitions, and the same one once resolved, answer normally."""
    c = make_cluster()
    p = producer(c, "p")
    answers: list[tuple[int, str, dict]] = []

    def fetch(tps: list[TopicPartition]) -> None:
        group_coordinator(c, "g").handle_offset_fetch(
            "g", "p", tps, lambda err, offs: answers.append((c.world.now, err.name, dict(offs))))

    def body(out: dict) -> Generator:
        yield p.init_transactions()
        p.begin_transaction()
        p.produce("t", value="a", partition=0)
        yield p.send_offsets_to_transaction([(T0, 1)], meta())
        fetch([T0])
        fetch([T1])
        fetch([T0, T1])
        yield c.world.timeout(100)
        yield p.commit_transaction()
        yield c.world.timeout(100)
        fetch([T0, T1])

    out = spawn(c, body)
    c.run(3000)
    assert "done" in out, out
    assert [(err, offs) for _t, err, offs in answers] == [
        ("UNSTABLE_OFFSET_COMMIT", {}),
        ("NONE", {T1: -1}),
        ("UNSTABLE_OFFSET_COMMIT", {}),
        ("NONE", {T0: 1, T1: -1}),
    ]


# -- transaction.timeout.ms ----------------------------------------------------------------------------
@pytest.mark.parametrize(("tv2", "commit_error"), [(True, E.INVALID_TXN_STATE), (False, E.PRODUCER_FENCED)])
def test_transaction_timeout_aborts_the_open_transaction_with_an_epoch_bump(tv2: bool, commit_error: E) -> None:
    """§9: an open transaction older than transaction.timeout.ms is aborted by the coordinator
    with a bumped epoch; the producer can never commit it. Its EndTxn(COMMIT) with the epoch
    before the bump is, with transaction.version 2, a retry of an end already decided the other
    way (INVALID_TXN_STATE, Kafka endTransaction); before, a stale epoch (PRODUCER_FENCED). The
    Java client treats both as fatal (EndTxnHandler)."""
    c = make_cluster(config={"transaction.abort.timed.out.transaction.cleanup.interval.ms": 500},
                     switches={"txn_epoch_bump_per_txn": tv2})
    p = producer(c, "p", **{"transaction.timeout.ms": 3000})
    plain = kafkasim.Producer({}, c, "plain")

    def body(out: dict) -> Generator:
        yield p.init_transactions()
        p.begin_transaction()
        out["began"] = c.world.now  # the coordinator starts the clock at AddPartitionsToTxn, just after
        p.produce("t", value="a", partition=0)
        yield p.flush()
        out["epoch"] = p.producer_epoch
        plain.produce("t", value="n", partition=0)
        yield plain.flush()
        out["lso_open"] = (leader_log(c, T0).lso, leader_log(c, T0).hw)
        yield c.world.timeout(6000)
        yield p.commit_transaction()

    out = spawn(c, body)
    c.run(10000)
    assert out["lso_open"] == (0, 2)  # the plain record after the open transaction is not stable
    (to,) = events(c, "txn.timeout")
    assert to.data["producer_epoch"] == out["epoch"] + 1 and to.data["timeout_ms"] == 3000
    assert out["began"] + 3000 < to.t <= out["began"] + 3000 + 500 + 50  # cleanup runs every 500 ms
    log = leader_log(c, T0)
    assert [(ctl, ep) for _o, ctl, _p, ep in markers(log)] == [(CONTROL_ABORT, out["epoch"] + 1)]
    assert log.lso == log.hw == 3
    assert out.get("error") is commit_error
    assert analyse(c.world.trace).stats["txn_timeouts"] == 1


@pytest.mark.parametrize("tv2", [True, False])
def test_a_producer_whose_transaction_timed_out_aborts_and_goes_on_with_transaction_version_2(tv2: bool) -> None:
    """KIP-588 with KIP-890 part 2: the coordinator aborted a timed-out transaction at epoch E+1;
    the producer's next send gets INVALID_PRODUCER_EPOCH, an abortable error (its commit fails
    without reaching the coordinator). Its abort, sent with epoch E, is with transaction.version 2
    a retry of the abort already done (retryOnEpochBump): it succeeds and hands the producer
    epoch E+1, and the next transaction commits. Before transaction.version 2 the abort is
    refused with PRODUCER_FENCED and the producer is done."""
    c = make_cluster(config={"transaction.abort.timed.out.transaction.cleanup.interval.ms": 500},
                     switches={"txn_epoch_bump_per_txn": tv2})
    p = producer(c, "p", **{"transaction.timeout.ms": 3000})
    res: dict[str, Any] = {}

    def body(out: dict) -> Generator:
        yield p.init_transactions()
        p.begin_transaction()
        p.produce("t", value="a", partition=0)
        yield p.flush()
        res["epoch"] = p.producer_epoch
        yield c.world.timeout(6000)  # meanwhile the coordinator aborts the transaction
        p.produce("t", value="late", partition=0)
        try:
            yield p.commit_transaction()
        except KafkaException as exc:
            res["commit"] = exc.error
        yield p.abort_transaction()
        res["epoch_after_abort"] = p.producer_epoch
        p.begin_transaction()
        p.produce("t", value="next", partition=0)
        yield p.commit_transaction()

    out = spawn(c, body)
    c.run(12000)
    (to,) = events(c, "txn.timeout")
    assert to.data["producer_epoch"] == res["epoch"] + 1
    assert res["commit"] is E.INVALID_PRODUCER_EPOCH  # abortable: the coordinator was not asked
    fails = events(c, "produce.fail", producer="p")
    assert [f.data["error"] for f in fails] == ["INVALID_PRODUCER_EPOCH"]
    if tv2:
        assert "done" in out, out
        assert res["epoch_after_abort"] == res["epoch"] + 1
        assert not events(c, "txn.fenced", producer="p")
        log = leader_log(c, T0)  # "a" aborted by the coordinator, "late" never written, "next" committed
        assert values(log) == ["a", "next"]
        assert [ctl for _o, ctl, _p, _ep in markers(log)] == [CONTROL_ABORT, CONTROL_COMMIT]
    else:
        assert out.get("error") is E.PRODUCER_FENCED
        assert events(c, "txn.fenced", producer="p")


# -- the last stable offset (pure log) --------------------------------------------------------------------
def _batch(offset: int, pid: int = -1, txn: bool = False, control: int = CONTROL_NONE, count: int = 1) -> RecordBatch:
    return RecordBatch(offset, count, 0, 100, 0, "p" if pid >= 0 else "", 0, pid, 0, -1 if control else 0,
                       txn, control)


def test_lso_is_the_first_offset_of_the_oldest_open_transaction_capped_at_the_hw() -> None:
    log = PartitionLog()
    log.append(_batch(0))  # plain record
    assert log.lso == log.hw == 0
    log.hw = 1
    assert log.lso == 1
    log.append(_batch(1, pid=7, txn=True))  # transaction A opens at 1
    log.append(_batch(2))
    log.append(_batch(3, pid=8, txn=True, count=2))  # transaction B opens at 3
    log.append(_batch(5, pid=7, txn=True))  # more of A
    assert log.ongoing == {7: 1, 8: 3}
    log.hw = 1
    assert log.lso == 1  # capped at the HW (= the first open offset here)
    log.hw = 0
    assert log.lso == 0  # below the open transaction: the HW
    log.hw = 6
    assert log.lso == 1
    log.append(_batch(6, pid=7, txn=True, control=CONTROL_COMMIT))  # A commits
    log.hw = 7
    assert log.ongoing == {8: 3} and log.lso == 3
    log.append(_batch(7, pid=8, txn=True, control=CONTROL_ABORT))  # B aborts
    assert log.lso == 7  # capped at the HW, the marker is not replicated yet
    log.hw = 8
    assert log.lso == 8 and log.ongoing == {}
    assert log.aborted == [(8, 3, 7)]
    assert log.aborted_in(0, 8) == [(8, 3)]
    assert log.aborted_in(5, 6) == [(8, 3)]  # a range inside the aborted transaction
    assert log.aborted_in(0, 3) == []  # ends before it starts
    assert log.aborted_in(8, 9) == []  # starts after its marker


def test_truncation_reopens_a_transaction_whose_marker_was_cut_off() -> None:
    log = PartitionLog()
    log.append(_batch(0, pid=7, txn=True))
    log.append(_batch(1, pid=7, txn=True, control=CONTROL_ABORT))
    log.hw = 2
    assert log.lso == 2 and log.aborted == [(7, 0, 1)]
    log.truncate_to(1)
    assert log.ongoing == {7: 0} and log.aborted == [] and log.lso == 0
    log.truncate_to(0)
    assert log.ongoing == {} and log.lso == 0


# -- coordinator failover ------------------------------------------------------------------------------------
def _split_cluster(tid: str) -> tuple[kafkasim.Cluster, int]:
    """4 brokers; topic ``d`` (RF 1) on the one broker that holds no replica of ``tid``'s
    ``__transaction_state`` partition, so links to it can be cut without touching that partition."""
    c = kafkasim.cluster(4, seed=1)
    install_transactions(c)
    tp = c.brokers[1].txn_coordinator.partition_for(tid)
    replicas = c.controller.partitions[tp].replicas
    (outside,) = [b for b in sorted(c.brokers) if b not in replicas]
    c.create_topic("d", 1, 1, dict(topic_config(c.broker_conf, {"min.insync.replicas": 1})),
                   assignment=[(outside,)])
    c.start()
    return c, outside


def test_new_coordinator_completes_a_prepare_commit_by_writing_the_markers() -> None:
    """§9: PrepareCommit is the point of no return. The coordinator answers the commit, then
    dies before its marker reaches the data partition; the new coordinator (the new leader of
    the ``__transaction_state`` partition) loads the state and writes the COMMIT marker."""
    c, outside = _split_cluster("tx")
    d0 = TopicPartition("d", 0)
    state_tp = c.brokers[1].txn_coordinator.partition_for("tx")
    p = producer(c, "p")

    def body(out: dict) -> Generator:
        yield p.init_transactions()
        p.begin_transaction()
        p.produce("d", value="a", partition=0)
        yield p.flush()
        out["coordinator"] = coord = c.controller.partitions[state_tp].leader
        c.world.net.cut(f"broker-{coord}", f"broker-{outside}")  # the marker will not arrive
        yield p.commit_transaction()

    out = spawn(c, body)
    c.run(2000)
    assert "done" in out, out
    old = out["coordinator"]
    assert txn_coordinator(c, "tx").txns["tx"].state is TxnState.PREPARE_COMMIT
    log = c.brokers[outside].logs[d0]
    assert markers(log) == [] and log.lso == 0  # still open for readers
    c.brokers[old].crash()
    c.run(30000)
    new = c.controller.partitions[state_tp].leader
    assert new not in (old, -1)
    loaded = events(c, "txn.state", transactional_id="tx", reason="coordinator loaded")
    assert [(e.node, e.data["state"]) for e in loaded] == [(f"broker-{new}", "PrepareCommit")]
    assert c.brokers[new].txn_coordinator.txns["tx"].state is TxnState.COMPLETE_COMMIT
    assert [(ctl, pid) for _o, ctl, pid, _e in markers(log)] == [(CONTROL_COMMIT, p.producer_id)]
    assert log.lso == log.hw == 2


def test_transaction_open_across_a_coordinator_failover_commits_through_the_new_one() -> None:
    """The producer rediscovers its coordinator (NOT_COORDINATOR / timeout) and the new one,
    having loaded the Ongoing state, commits the transaction."""
    c, outside = _split_cluster("tx")
    d0 = TopicPartition("d", 0)
    state_tp = c.brokers[1].txn_coordinator.partition_for("tx")
    p = producer(c, "p")

    def body(out: dict) -> Generator:
        yield p.init_transactions()
        p.begin_transaction()
        p.produce("d", value="a", partition=0)
        yield p.flush()
        c.brokers[c.controller.partitions[state_tp].leader].crash()
        yield c.world.timeout(100)
        yield p.commit_transaction()

    out = spawn(c, body)
    c.run(60000)
    assert "done" in out, out
    log = c.brokers[outside].logs[d0]
    assert [ctl for _o, ctl, _p, _e in markers(log)] == [CONTROL_COMMIT]
    assert values(log) == ["a"] and log.lso == log.hw


# -- model bugs ------------------------------------------------------------------------------------------
def test_markers_lost_in_the_network_are_retried() -> None:
    """Kafka's TransactionMarkerChannelManager resends markers after a disconnect or a request
    timeout (request.timeout.ms, 30 s), until the partition leader accepts them."""
    c, outside = _split_cluster("tx")
    d0 = TopicPartition("d", 0)
    state_tp = c.brokers[1].txn_coordinator.partition_for("tx")
    p = producer(c, "p")

    def body(out: dict) -> Generator:
        yield p.init_transactions()
        p.begin_transaction()
        p.produce("d", value="a", partition=0)
        yield p.flush()
        out["coordinator"] = coord = c.controller.partitions[state_tp].leader
        c.world.net.cut(f"broker-{coord}", f"broker-{outside}")
        yield p.commit_transaction()
        yield c.world.timeout(2000)
        c.world.net.heal(f"broker-{coord}", f"broker-{outside}")

    out = spawn(c, body)
    c.run(120000)
    assert "done" in out, out
    log = c.brokers[outside].logs[d0]
    assert [ctl for _o, ctl, _p, _e in markers(log)] == [CONTROL_COMMIT]
    assert log.lso == log.hw
    assert txn_coordinator(c, "tx").txns["tx"].state is TxnState.COMPLETE_COMMIT


def _two_groups_one_coordinator(c: kafkasim.Cluster) -> tuple[str, str]:
    """Two group ids whose offsets partitions differ but have the same leader (one coordinator)."""
    n = c.broker_conf["offsets.topic.num.partitions"]

    def leader(gid: str) -> int:
        return c.controller.partitions[offsets_tp(c, gid)].leader

    first = "ga"
    second = next(g for g in (f"g{i}" for i in range(1000))
                  if offsets_partition(g, n) > offsets_partition(first, n) and leader(g) == leader(first))
    return first, second


def test_one_transaction_commits_offsets_of_two_groups() -> None:
    """§9: pending offsets become committed with the COMMIT marker of *their* offsets partition
    (Kafka: GroupMetadataManager.handleTxnCompletion only completes groups of the marker's
    partition). A transaction that commits offsets for two groups commits both."""
    c = make_cluster()
    g1, g2 = _two_groups_one_coordinator(c)
    assert offsets_tp(c, g1) != offsets_tp(c, g2)
    p = producer(c, "p")

    def body(out: dict) -> Generator:
        yield p.init_transactions()
        p.begin_transaction()
        p.produce("t", value="a", partition=0)
        yield p.send_offsets_to_transaction([(T0, 5)], meta(g1))
        yield p.send_offsets_to_transaction([(T0, 7)], meta(g2))
        yield p.commit_transaction()

    out = spawn(c, body)
    c.run(3000)
    assert "done" in out, out
    for gid in (g1, g2):
        assert [ctl for _o, ctl, _p, _e in markers(leader_log(c, offsets_tp(c, gid)))] == [CONTROL_COMMIT]
    assert group_coordinator(c, g1).committed(g1) == {T0: 5}
    assert group_coordinator(c, g2).committed(g2) == {T0: 7}


def _two_transactions(switches: dict) -> tuple[kafkasim.Cluster, kafkasim.Producer]:
    c = make_cluster(switches=switches)
    p = producer(c, "p")

    def body(out: dict) -> Generator:
        yield p.init_transactions()
        for v in ("a", "b"):
            p.begin_transaction()
            p.produce("t", value=v, partition=0)
            yield p.commit_transaction()

    out = spawn(c, body)
    c.run(3000)
    assert "done" in out, out
    return c, p


def test_without_kip_890_the_epoch_stays_across_transactions() -> None:
    c, p = _two_transactions({"txn_epoch_bump_per_txn": False})
    log = leader_log(c, T0)
    assert [(b.control, b.producer_epoch) for b in log.batches] == [
        (CONTROL_NONE, 0), (CONTROL_COMMIT, 0), (CONTROL_NONE, 0), (CONTROL_COMMIT, 0)]


def test_kip_890_bumps_the_epoch_at_every_transaction_end() -> None:
    """§19: with txn_epoch_bump_per_txn (Kafka 4.0, the default) every EndTxn bumps the epoch:
    the markers carry the new epoch and the next transaction is sent with it."""
    c, p = _two_transactions({"txn_epoch_bump_per_txn": True})
    log = leader_log(c, T0)
    assert [(b.control, b.producer_epoch) for b in log.batches] == [
        (CONTROL_NONE, 0), (CONTROL_COMMIT, 1), (CONTROL_NONE, 1), (CONTROL_COMMIT, 2)]


def test_transaction_state_topic_is_created_with_its_configured_shape() -> None:
    c = make_cluster(brokers=3, start=False)
    assert TXN_TOPIC in c.topic_configs
    assert "compact" in c.topic_configs[TXN_TOPIC]["cleanup.policy"]
    assert len([tp for tp in c.partitions() if tp.topic == TXN_TOPIC]) == 50
    assert all(len(c.controller.partitions[tp].replicas) == 3 for tp in c.partitions() if tp.topic == TXN_TOPIC)
