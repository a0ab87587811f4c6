"""Per-key stats (kafkasim.check.ordering.analyse_keys) on hand-built traces and real runs.

Kafka keeps order within a partition only, and its default partitioner puts every record
of a key in one partition, so a key's records keep their send order. The stats count the
exceptions: keys split over partitions, records stored out of send order within a key, and
records a group processed (the first time) after a later-sent record of their key.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from kafkasim.check.ordering import analyse_keys
from kafkasim.check.report import build_result
from kafkasim.scenario.load import load
from kafkasim.scenario.run import run
from kafkasim.sim.trace import Trace

ROOT = Path(__file__).parents[2]


class History:
    """A synthetic trace with the model's field names (``log.final`` with ``keys``)."""

    def __init__(self) -> None:
        self.trace = Trace(seed=0, scenario="keys")
        self.t = 0

    def add(self, kind: str, node: str, **data: Any) -> None:
        self.t += 1
        self.trace.append(self.t, kind, node, data)

    def final(self, batches: list[list[Any]], keys: list[list[str | None] | None], topic: str = "t",
              partition: int = 0) -> None:
        """``batches`` as [offset, count, producer, rec(, producer_id, transactional, control)]."""
        leo = max((b[0] + b[1] for b in batches), default=0)
        self.add("log.final", "controller", topic=topic, partition=partition, leader=1, leader_epoch=0,
                 isr=[1], offline=False, hw=leo, leo=leo, log_start=0,
                 replicas=[{"broker": 1, "leo": leo, "hw": leo, "alive": True}], batches=batches, keys=keys)

    def processed(self, rec: int, count: int = 1, group: str = "g", producer: str = "p", topic: str = "t",
                  partition: int = 0, offset: int = 0) -> None:
        self.add("app.processed", "c", consumer="c", group=group, topic=topic, partition=partition,
                 offset=offset, count=count, producer=producer, rec=rec)

    def keys(self) -> dict[str, Any]:
        return analyse_keys(self.trace)


def test_a_log_in_send_order_has_no_violation() -> None:
    h = History()
    h.final([[0, 2, "p", 0], [2, 2, "p", 2]], [["a", "b"], ["a", "b"]])
    h.processed(0, 2)
    h.processed(2, 2)
    assert h.keys() == {"keys_on_many_partitions": 0, "key_order_violations": 0, "groups": {"g": 0}}


def test_a_record_stored_after_a_later_one_of_its_key_is_a_violation() -> None:
    """rec 0 (sent first) landed after rec 1 of the same key: a retried batch overtaken."""
    h = History()
    h.final([[0, 1, "p", 1], [1, 1, "p", 0]], [["a"], ["a"]])
    assert h.keys()["key_order_violations"] == 1


def test_order_across_different_keys_is_not_promised() -> None:
    h = History()
    h.final([[0, 1, "p", 1], [1, 1, "p", 0]], [["a"], ["b"]])
    assert h.keys()["key_order_violations"] == 0


def test_order_is_per_producer() -> None:
    """Two producers writing one key have no order between them."""
    h = History()
    h.final([[0, 1, "p", 5], [1, 1, "q", 0]], [["a"], ["a"]])
    assert h.keys()["key_order_violations"] == 0


def test_a_duplicate_copy_is_not_counted_again() -> None:
    """A resent batch appended again after later records: its first copy was in order."""
    h = History()
    h.final([[0, 1, "p", 0], [1, 1, "p", 1], [2, 1, "p", 0]], [["a"], ["a"], ["a"]])
    assert h.keys()["key_order_violations"] == 0


def test_null_keys_have_no_key_order() -> None:
    h = History()
    h.final([[0, 1, "p", 1], [1, 1, "p", 0]], [None, None])
    assert h.keys() == {"keys_on_many_partitions": 0, "key_order_violations": 0, "groups": {}}


def test_records_of_an_aborted_transaction_do_not_count() -> None:
    """Aborted records are not in the log a read_committed reader sees (control 2 = ABORT)."""
    h = History()
    h.final([[0, 1, "p", 1, 7, 1, 0], [1, 1, "", 0, 7, 1, 2], [2, 1, "p", 0]], [["a"], None, ["a"]])
    assert h.keys()["key_order_violations"] == 0


def test_a_key_in_two_partitions_is_counted_once_per_topic() -> None:
    h = History()
    h.final([[0, 2, "p", 0]], [["a", "b"]], partition=0)
    h.final([[0, 1, "p", 0]], [["a"]], partition=1)
    h.final([[0, 1, "p", 0]], [["a"]], topic="u")
    assert h.keys()["keys_on_many_partitions"] == 1


def test_a_group_processing_a_key_out_of_send_order() -> None:
    h = History()
    h.final([[0, 3, "p", 0]], [["a", "a", "b"]])
    h.processed(1)
    h.processed(2)
    h.processed(0)  # first processing of rec 0 after rec 1 of the same key
    assert h.keys()["groups"] == {"g": 1}


def test_a_redelivery_is_a_repeat_not_a_violation() -> None:
    """At-least-once: a restarted member repeats records it had processed; that is processed_twice."""
    h = History()
    h.final([[0, 2, "p", 0]], [["a", "a"]])
    h.processed(0, 2)
    h.processed(0, 2)
    h.processed(0, 2, group="h")
    assert h.keys()["groups"] == {"g": 0, "h": 0}


def test_the_result_carries_the_stats() -> None:
    h = History()
    h.final([[0, 1, "p", 1], [1, 1, "p", 0]], [["a"], ["a"]])
    h.processed(1, offset=0)
    h.processed(0, offset=1)
    h.add("run.end", "controller")
    res = build_result(h.trace)
    assert res["stats"]["delivery"]["key_order_violations"] == 1
    assert res["groups"]["g"]["key_order_violations"] == 1


# -- real runs --------------------------------------------------------------------------------------
def _keyed(ignore_keys: bool) -> Any:
    sc = load(ROOT / "scenarios" / "02-keyed-ordering-broker-crash.yaml")
    p = sc.producers[0]
    conf = {**p.config, "partitioner.ignore.keys": ignore_keys}
    return dataclasses.replace(sc, producers=(dataclasses.replace(p, config=conf), *sc.producers[1:]),
                               expect=(), faults=())


def test_the_default_partitioner_keeps_each_key_on_one_partition() -> None:
    res = run(_keyed(False)).result
    assert res["stats"]["delivery"]["keys_on_many_partitions"] == 0


def test_partitioner_ignore_keys_spreads_keys_over_partitions() -> None:
    """partitioner.ignore.keys=true (KIP-794) sends keyed records through the sticky partitioner."""
    sc = _keyed(True)
    cardinality = sc.producers[0].workload.key.cardinality
    res = run(sc).result
    assert res["stats"]["delivery"]["keys_on_many_partitions"] == cardinality


def test_keys_survive_a_saved_trace(tmp_path: Path) -> None:
    r = run(load(ROOT / "scenarios" / "02-keyed-ordering-retries.yaml"))
    path = tmp_path / "trace.jsonl"
    r.trace.save(path)
    again = build_result(Trace.load(path))
    assert again["stats"]["delivery"]["key_order_violations"] == r.result["stats"]["delivery"][
        "key_order_violations"] > 0
    assert again["groups"] == r.result["groups"]
