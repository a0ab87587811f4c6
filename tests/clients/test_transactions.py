"""The clients' side of transactions: the producer's TransactionManager and read_committed.

Rules (kafka-semantics §7, §9): produce() needs an open transaction; a failed send leaves
the transaction abortable only (commit fails, abort works and the producer goes on); a
fenced producer fails every call with PRODUCER_FENCED; a read_committed consumer reads
only below the LSO, never sees aborted records, and a transaction it waits on blocks even
later non-transactional records; markers take offsets and are never returned, so consumed
offsets have gaps; a consumer starting on a partition with pending transactional offsets
waits for them (UNSTABLE_OFFSET_COMMIT, retried); KIP-447 fences a member of an old
generation at TxnOffsetCommit. Kafka: TransactionManager, Sender, Fetcher, KafkaConsumer.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import pytest

import kafkasim
from kafkasim.cluster.log import CONTROL_ABORT, CONTROL_COMMIT
from kafkasim.cluster.transactions import install as install_transactions
from kafkasim.errors import KafkaError, KafkaException
from kafkasim.group.coordinator import OFFSETS_TOPIC, offsets_partition
from kafkasim.group.coordinator import install as install_groups
from kafkasim.records import TopicPartition

E = KafkaError
T0, T1 = TopicPartition("t", 0), TopicPartition("t", 1)


# -- helpers ----------------------------------------------------------------------------------------
def make_cluster(partitions: int = 1, seed: int = 1, topic_config: dict | None = None) -> kafkasim.Cluster:
    c = kafkasim.cluster(3, seed=seed)
    c.topic("t", partitions, 3, topic_config)
    install_transactions(c)
    install_groups(c)
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


def txn_producer(c: kafkasim.Cluster, name: str = "p", tid: str = "tx", **conf: Any) -> kafkasim.Producer:
    return kafkasim.Producer({"transactional.id": tid, **conf}, c, name)


class Reader:
    """A consumer polling in a loop; ``got`` holds (time, offset, value) per record."""

    def __init__(self, c: kafkasim.Cluster, name: str, isolation: str, start_ms: int = 0,
                 reset: str = "earliest", partitions: list[TopicPartition] | None = None) -> None:
        self.c = c
        self.got: list[tuple[int, int, Any]] = []
        self.consumer: kafkasim.Consumer | None = None
        conf = {"group.id": name, "isolation.level": isolation, "auto.offset.reset": reset,
                "enable.auto.commit": False}

        def loop() -> Generator:
            if start_ms:
                yield c.world.timeout(start_ms)
            self.consumer = cons = kafkasim.Consumer(conf, c, name)
            cons.assign(partitions or [T0])
            while True:
                m = yield cons.poll(0.5)
                if m is not None:
                    self.got.append((c.world.now, m.offset(), m.value()))

        c.world.process(loop())

    @property
    def offsets(self) -> list[int]:
        return [o for _t, o, _v in self.got]

    @property
    def values(self) -> list[Any]:
        return [v for _t, _o, v in self.got]


def marker_offsets(c: kafkasim.Cluster, tp: TopicPartition = T0) -> list[int]:
    log = c.leader_log(tp)
    return [b.base_offset for b in log.batches if b.control]


# -- the producer's state machine ---------------------------------------------------------------------
def test_produce_outside_a_transaction_raises() -> None:
    """Java: IllegalStateException 'Cannot call send in state ...' (no transaction begun)."""
    c = make_cluster()
    p = txn_producer(c)
    with pytest.raises(KafkaException) as exc:
        p.produce("t", value="before-init", partition=0)
    assert exc.value.error is E._STATE
    with pytest.raises(KafkaException):
        p.begin_transaction()  # before init_transactions

    def body(out: dict) -> Generator:
        yield p.init_transactions()
        for when in ("after-init", "after-commit"):
            try:
                p.produce("t", value=when, partition=0)
            except KafkaException as e:
                out.setdefault("raised", []).append((when, e.error))
            p.begin_transaction()
            p.produce("t", value="inside", partition=0)
            yield p.commit_transaction()

    out = spawn(c, body)
    c.run(3000)
    assert "done" in out, out
    assert out["raised"] == [("after-init", E._STATE), ("after-commit", E._STATE)]
    assert [m for m in marker_offsets(c)] == [1, 3]
    assert c.world.trace.of("produce.send") and all(
        e.data["rec"] in (0, 1) for e in c.world.trace.of("produce.send"))


def test_commit_and_abort_outside_a_transaction_fail() -> None:
    c = make_cluster()
    p = txn_producer(c)
    outs: list[dict] = []

    def body(out: dict) -> Generator:
        yield p.init_transactions()
        for call in (p.commit_transaction, p.abort_transaction):
            r: dict[str, Any] = {}
            try:
                yield call()
            except KafkaException as e:
                r["error"] = e.error
            outs.append(r)
        p.begin_transaction()
        with pytest.raises(KafkaException):
            p.begin_transaction()  # already in one
        yield p.abort_transaction()  # nothing sent: nothing to end at the coordinator

    out = spawn(c, body)
    c.run(2000)
    assert "done" in out, out
    assert outs == [{"error": E._STATE}, {"error": E._STATE}]
    assert [e.data["result"] for e in c.world.trace.of("txn.end")] == ["abort"]


def test_a_failed_send_makes_commit_fail_and_abort_then_works() -> None:
    """§9: 'on abortable error: abort'. A record the broker rejects (MESSAGE_TOO_LARGE, not
    retriable) leaves the transaction abortable: commit fails with that error, abort succeeds,
    and the next transaction commits. Readers never see the aborted transaction's records."""
    c = make_cluster(partitions=2, topic_config={"max.message.bytes": 2000})
    p = txn_producer(c)
    reader = Reader(c, "r", "read_committed", partitions=[T0, T1])
    raw = Reader(c, "raw", "read_uncommitted", partitions=[T0, T1])

    def body(out: dict) -> Generator:
        yield p.init_transactions()
        p.begin_transaction()
        p.produce("t", value="fine", partition=1)
        p.produce("t", value="x" * 5000, partition=0)
        try:
            yield p.commit_transaction()
        except KafkaException as e:
            out["commit_error"] = e.error
        yield p.abort_transaction()
        out["aborted_at"] = c.world.now
        p.begin_transaction()
        p.produce("t", value="next", partition=1)
        yield p.commit_transaction()

    out = spawn(c, body)
    c.run(4000)
    assert "done" in out, out
    assert out["commit_error"] is E.MESSAGE_TOO_LARGE
    assert [e.data["result"] for e in c.world.trace.of("txn.end")] == ["abort", "commit"]
    assert reader.values == ["next"]
    assert sorted(raw.values) == ["fine", "next"]  # read_uncommitted sees the aborted record
    log = c.leader_log(T1)
    assert [b.control for b in log.batches] == [0, CONTROL_ABORT, 0, CONTROL_COMMIT]


def test_a_record_failed_by_the_client_also_makes_the_transaction_abortable() -> None:
    """Java KafkaProducer.doSend: an ApiException (RecordTooLargeException) fails the send's
    future and calls transactionManager.maybeTransitionToErrorState: commit must fail."""
    c = make_cluster()
    p = txn_producer(c, **{"max.request.size": 2000})
    reports: list[str | None] = []

    def body(out: dict) -> Generator:
        yield p.init_transactions()
        p.begin_transaction()
        p.produce("t", value="a", partition=0)
        p.produce("t", value="b" * 5000, partition=0,
                  on_delivery=lambda err, _m: reports.append(err.name if err else None))
        yield p.commit_transaction()

    out = spawn(c, body)
    c.run(3000)
    assert reports == ["RECORD_TOO_LARGE"]
    assert out.get("error") is E.RECORD_TOO_LARGE


def test_a_fenced_producer_fails_every_later_call() -> None:
    c = make_cluster()
    old, new = txn_producer(c, "old"), txn_producer(c, "new")
    results: dict[str, Any] = {}

    def body(out: dict) -> Generator:
        yield old.init_transactions()
        old.begin_transaction()
        old.produce("t", value="a", partition=0)
        yield old.flush()
        yield new.init_transactions()
        old.produce("t", value="b", partition=0)  # sent with the old epoch: fenced by the ABORT marker
        yield old.flush()
        for name, call in (("commit", old.commit_transaction),
                           ("send_offsets", lambda: old.send_offsets_to_transaction(
                               [(T0, 1)], {"group_id": "g", "generation": -1, "member_id": ""})),
                           ("abort", old.abort_transaction), ("init", old.init_transactions)):
            try:
                yield call()
                results[name] = None
            except KafkaException as e:
                results[name] = e.error
        try:
            old.begin_transaction()
        except KafkaException as e:
            results["begin"] = e.error

    out = spawn(c, body)
    c.run(3000)
    assert "done" in out, out
    # the leader's INVALID_PRODUCER_EPOCH only makes the transaction abortable (KIP-588): commit
    # and send_offsets fail with it; the abort reaches the coordinator, which knows a newer epoch
    assert results == {"commit": E.INVALID_PRODUCER_EPOCH, "send_offsets": E.INVALID_PRODUCER_EPOCH,
                       **{k: E.PRODUCER_FENCED for k in ("abort", "init", "begin")}}
    (fenced,) = [e for e in c.world.trace.of("txn.fenced") if e.data["producer"] == "old"]
    assert fenced.data["error"] in ("INVALID_PRODUCER_EPOCH", "PRODUCER_FENCED")
    assert [v for b in c.leader_log(T0).batches if not b.control for v in b.values] == ["a"]


def test_a_retried_end_txn_gets_the_first_attempts_outcome_not_fenced() -> None:
    """Issue #12 defect 6 (KIP-890 part 2, Kafka 4): the EndTxn that bumped the epoch is answered
    too late; the producer's retry carries the old epoch. The coordinator recognises the retry:
    CONCURRENT_TRANSACTIONS while it writes the markers, then the commit, with the new epoch."""
    c = make_cluster()
    p = txn_producer(c, "p", **{"request.timeout.ms": 1000, "delivery.timeout.ms": 2000})

    def body(out: dict) -> Generator:
        yield p.init_transactions()
        p.begin_transaction()
        p.produce("t", value="a", partition=0)
        yield p.flush()
        coordinator = c.brokers[p.txn.coordinator].name
        c.world.net.slow(coordinator, "p", 1500, both=False)  # the answer outlives request.timeout.ms
        c.world.at(1200, lambda: c.world.net.slow(coordinator, "p", 0, both=False))
        yield p.commit_transaction()

    out = spawn(c, body)
    c.run(10_000)
    assert "done" in out, out
    ends = [e.data["result"] for e in c.world.trace.of("txn.end")]
    assert ends == ["commit"]
    assert not c.world.trace.of("txn.fenced")
    assert [v for b in c.leader_log(T0).batches if not b.control for v in b.values] == ["a"]


def test_abort_after_a_failed_send_bumps_the_epoch() -> None:
    """KIP-360: after an abortable send error the producer bumps its epoch (InitProducerId) so
    the sequences of the next transaction start cleanly at 0."""
    c = make_cluster(topic_config={"max.message.bytes": 2000})
    p = txn_producer(c)

    def body(out: dict) -> Generator:
        yield p.init_transactions()
        out["epoch0"] = p.producer_epoch
        p.begin_transaction()
        p.produce("t", value="x" * 5000, partition=0)
        yield p.flush()
        yield p.abort_transaction()
        out["epoch1"] = p.producer_epoch
        p.begin_transaction()
        p.produce("t", value="ok", partition=0)
        yield p.commit_transaction()

    out = spawn(c, body)
    c.run(3000)
    assert "done" in out, out
    assert out["epoch1"] > out["epoch0"]
    data = [b for b in c.leader_log(T0).batches if not b.control]
    assert [(b.values, b.producer_epoch, b.base_sequence) for b in data] == [(("ok",), out["epoch1"], 0)]


# -- read_committed --------------------------------------------------------------------------------------
def test_read_committed_hides_aborted_records_and_markers_leave_gaps() -> None:
    """§7: aborted data is filtered out, markers are always hidden; the offsets a consumer
    returns skip the markers' offsets (and, read_committed, the aborted records')."""
    c = make_cluster()
    p = txn_producer(c)
    committed = Reader(c, "rc", "read_committed")
    uncommitted = Reader(c, "ru", "read_uncommitted")

    def body(out: dict) -> Generator:
        yield p.init_transactions()
        for values, commit in ((["a", "b"], True), (["c"], False), (["d"], True)):
            p.begin_transaction()
            for v in values:
                p.produce("t", value=v, partition=0)
            yield p.flush()
            yield (p.commit_transaction() if commit else p.abort_transaction())

    out = spawn(c, body)
    c.run(5000)
    assert "done" in out, out
    marks = marker_offsets(c)
    assert marks == [2, 4, 6]
    assert committed.values == ["a", "b", "d"] and committed.offsets == [0, 1, 5]
    assert uncommitted.values == ["a", "b", "c", "d"] and uncommitted.offsets == [0, 1, 3, 5]
    assert not set(marks) & set(committed.offsets + uncommitted.offsets)
    for r in (committed, uncommitted):  # both end past the last marker
        assert r.consumer.position([T0]) == [(T0, 7)]
    ctl = [b.control for b in c.leader_log(T0).batches if b.control]
    assert ctl == [CONTROL_COMMIT, CONTROL_ABORT, CONTROL_COMMIT]


def test_an_open_transaction_blocks_read_committed_readers_even_for_later_plain_records() -> None:
    """§7: 'A single open transaction therefore blocks read_committed consumers from
    everything after it, including later non-transactional records, until it commits.'"""
    c = make_cluster()
    p = txn_producer(c)
    plain = kafkasim.Producer({}, c, "plain")
    committed = Reader(c, "rc", "read_committed")
    uncommitted = Reader(c, "ru", "read_uncommitted")

    def body(out: dict) -> Generator:
        yield p.init_transactions()
        plain.produce("t", value="before", partition=0)
        yield plain.flush()
        yield c.world.timeout(200)
        p.begin_transaction()
        p.produce("t", value="in-txn", partition=0)
        yield p.flush()
        plain.produce("t", value="after", partition=0)
        yield plain.flush()
        yield c.world.timeout(3000)
        log = c.leader_log(T0)
        out["open"] = (log.lso, log.hw, list(committed.values), list(uncommitted.values))
        yield p.commit_transaction()
        out["committed_at"] = c.world.now

    out = spawn(c, body)
    c.run(6000)
    assert "done" in out, out
    lso, hw, rc_open, ru_open = out["open"]
    assert (lso, hw) == (1, 3)
    assert rc_open == ["before"]
    assert ru_open == ["before", "in-txn", "after"]
    assert committed.values == ["before", "in-txn", "after"]
    assert all(t >= out["committed_at"] for t, _o, v in committed.got if v != "before")


def test_read_committed_latest_starts_at_the_lso() -> None:
    """§7: auto.offset.reset=latest jumps to the LSO for read_committed (to the HW otherwise),
    so a reader that starts during an open transaction still gets it once it commits."""
    c = make_cluster()
    p = txn_producer(c)

    def body(out: dict) -> Generator:
        yield p.init_transactions()
        p.begin_transaction()
        p.produce("t", value="x", partition=0)
        yield p.flush()
        yield c.world.timeout(2000)
        yield p.commit_transaction()

    out = spawn(c, body)
    rc = Reader(c, "rc", "read_committed", start_ms=500, reset="latest")
    ru = Reader(c, "ru", "read_uncommitted", start_ms=500, reset="latest")
    c.run(5000)
    assert "done" in out, out
    seeks = {e.node: e.data["offset"] for e in c.world.trace.of("consumer.seek") if e.data["reason"] == "latest"}
    assert seeks == {"rc": 0, "ru": 1}
    assert rc.values == ["x"] and ru.values == []


@pytest.mark.parametrize("commit, expected", [(True, 42), (False, -1001)])
def test_committed_waits_for_pending_transactional_offsets(commit: bool, expected: int) -> None:
    """§9: a consumer asking for committed offsets while a transaction holds pending ones
    gets UNSTABLE_OFFSET_COMMIT and retries: it is answered only once they resolve (with the
    transaction's offset after a commit, with none after an abort)."""
    c = make_cluster()
    p = txn_producer(c)
    cons = kafkasim.Consumer({"group.id": "g"}, c, "cons")
    answer: list[tuple[int, Any]] = []

    def body(out: dict) -> Generator:
        yield p.init_transactions()
        p.begin_transaction()
        p.produce("t", value="a", partition=0)
        yield p.send_offsets_to_transaction([(T0, 42)], {"group_id": "g", "generation": -1, "member_id": ""})
        ev = cons.committed([T0])
        ev.callbacks.append(lambda e: answer.append((c.world.now, e.value)))
        yield c.world.timeout(2000)
        out["ending"] = c.world.now
        yield (p.commit_transaction() if commit else p.abort_transaction())

    out = spawn(c, body)
    c.run(5000)
    assert "done" in out, out
    (at, value), = answer
    assert at > out["ending"]
    assert value == [(T0, expected)]


def test_a_new_member_starts_from_offsets_committed_by_a_pending_transaction() -> None:
    """A group member assigned a partition while a transaction holds offsets for it waits, then
    starts at the offset the transaction committed (not at auto.offset.reset)."""
    c = make_cluster()
    p = txn_producer(c)
    plain = kafkasim.Producer({}, c, "plain")
    got: list[tuple[int, int]] = []

    def body(out: dict) -> Generator:
        for i in range(5):
            plain.produce("t", value=f"v{i}", partition=0)
        yield plain.flush()
        yield p.init_transactions()
        p.begin_transaction()
        p.produce("t", value="out", partition=0)
        yield p.send_offsets_to_transaction([(T0, 3)], {"group_id": "g", "generation": -1, "member_id": ""})
        yield c.world.timeout(6000)  # the member joins (initial rebalance delay 3 s) meanwhile
        out["committing"] = c.world.now
        yield p.commit_transaction()

    def member(out: dict) -> Generator:
        cons = kafkasim.Consumer({"group.id": "g", "auto.offset.reset": "earliest",
                                  "isolation.level": "read_committed"}, c, "member")
        cons.subscribe(["t"])
        while True:
            m = yield cons.poll(0.5)
            if m is not None:
                got.append((c.world.now, m.offset()))

    out = spawn(c, body)
    spawn(c, member)
    c.run(12000)
    assert "done" in out, out
    assert [e.data["group"] for e in c.world.trace.of("member.assigned")] == ["g"]
    assert c.world.trace.of("member.assigned")[0].t < out["committing"]
    assert got and got[0][1] == 3 and got[0][0] > out["committing"]
    assert [o for _t, o in got] == [3, 4, 5]
    (seek,) = [e for e in c.world.trace.of("consumer.seek") if e.node == "member"]
    assert (seek.data["reason"], seek.data["offset"]) == ("committed", 3)


def test_consumer_group_metadata_and_kip_447_generation_fencing() -> None:
    """KIP-447: send_offsets_to_transaction carries the member's generation; a stale generation
    is refused (ILLEGAL_GENERATION), the transaction is abortable, the offsets never commit."""
    c = make_cluster()
    p = txn_producer(c)
    cons = kafkasim.Consumer({"group.id": "g", "auto.offset.reset": "earliest", "enable.auto.commit": False},
                             c, "member")

    def body(out: dict) -> Generator:
        cons.subscribe(["t"])
        while cons.consumer_group_metadata()["generation"] < 1 or not cons.assignment():
            yield cons.poll(0.2)
        md = cons.consumer_group_metadata()
        out["md"] = md
        yield p.init_transactions()
        p.begin_transaction()
        p.produce("t", value="a", partition=0)
        try:
            yield p.send_offsets_to_transaction([(T0, 1)], dict(md, generation=md["generation"] - 1))
        except KafkaException as e:
            out["stale"] = e.error
        try:
            yield p.commit_transaction()
        except KafkaException as e:
            out["commit"] = e.error
        yield p.abort_transaction()
        p.begin_transaction()
        p.produce("t", value="b", partition=0)
        yield p.send_offsets_to_transaction([(T0, 2)], cons.consumer_group_metadata())
        yield p.commit_transaction()

    def keep_polling(out: dict) -> Generator:
        while True:
            yield cons.poll(0.2)

    out = spawn(c, body)
    c.run(4500)
    spawn(c, keep_polling)
    c.run(9000)
    assert "done" in out, out
    md = out["md"]
    assert md["group_id"] == "g" and md["generation"] >= 1 and md["member_id"].startswith("member-")
    assert out["stale"] is E.ILLEGAL_GENERATION and out["commit"] is E.ILLEGAL_GENERATION
    otp = TopicPartition(OFFSETS_TOPIC, offsets_partition("g", c.broker_conf["offsets.topic.num.partitions"]))
    gc = c.brokers[c.controller.partitions[otp].leader].coordinator
    assert gc.committed("g") == {T0: 2}


def test_rewind_to_committed_restarts_from_the_committed_offsets() -> None:
    """The EOS recipe's 'abort and rewind the consumer to the last committed offsets'."""
    c = make_cluster()
    plain = kafkasim.Producer({}, c, "plain")
    got: list[int] = []

    def body(out: dict) -> Generator:
        for i in range(6):
            plain.produce("t", value=i, partition=0)
        yield plain.flush()
        cons = kafkasim.Consumer({"group.id": "g", "auto.offset.reset": "earliest",
                                  "enable.auto.commit": False}, c, "member")
        cons.subscribe(["t"])
        while len(got) < 4:
            m = yield cons.poll(0.5)
            if m is not None:
                got.append(m.offset())
                if m.offset() == 1:
                    yield cons.commit(message=m, asynchronous=False)
        cons.rewind_to_committed()
        while len(got) < 8:
            m = yield cons.poll(0.5)
            if m is not None:
                got.append(m.offset())

    out = spawn(c, body)
    c.run(10000)
    assert "done" in out, out
    assert got == [0, 1, 2, 3, 2, 3, 4, 5]
