"""Bad scenario files: exit code 2 and one located line `file:line:col: path: problem`, never a
traceback, never a silently wrong run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kafkasim.cli import main
from kafkasim.errors import ScenarioError

GOOD = """\
name: good
duration_ms: 10000
cluster:
  brokers: 3
topics:
  - name: orders
    partitions: 3
    replication_factor: 3
producers:
  - name: p1
    config: {acks: all}
    workload: {topic: orders, count: 10, rate_per_s: 10}
consumers:
  - name: c1
    topics: [orders]
faults:
  - {at_ms: 1000, action: crash, target: broker-1}
expect:
  lost_acknowledged: 0
"""

# (name, text replacement (old, new), expected line, fragment of the message)
CASES = [
    ("unknown-key-did-you-mean", ("  brokers: 3", "  broker: 3"), 4, "unknown key 'broker' (did you mean 'brokers'?)"),
    ("unknown-config-key", ("{acks: all}", "{ack: all}"), 11, "did you mean 'acks'"),
    ("wrong-type", ("partitions: 3", "partitions: three"), 7, "expected an integer, got the string 'three'"),
    ("negative-count", ("count: 10", "count: -5"), 12, "must be >= 0"),
    ("unknown-topic", ("{topic: orders, count", "{topic: order, count"), 12, "unknown topic 'order'"),
    ("rf-above-brokers", ("replication_factor: 3", "replication_factor: 4"), 8,
     "larger than the number of brokers (3)"),
    ("duplicate-key", ("  partitions: 3\n", "  partitions: 3\n    partitions: 4\n"), 8, "duplicate key 'partitions'"),
    ("off-is-not-false", ("{acks: all}", "{acks: all, enable.idempotence: off}"), 11, "'off'"),
    ("bad-acks", ("{acks: all}", "{acks: 2}"), 11, "acks"),
    ("unknown-fault-target", ("target: broker-1", "target: broker-9"), 17, "unknown node 'broker-9'"),
    ("bad-expect", ("lost_acknowledged: 0", "lost_acknowleged: 0"), 19, "did you mean 'lost_acknowledged'"),
    ("idempotence-explicit-conflict", ("{acks: all}", "{acks: \"1\", enable.idempotence: true}"), 11,
     "idempotent producer needs acks=all"),
    ("session-timeout-below-broker-min", ("topics: [orders]", "topics: [orders]\n    config: {group.id: g, session.timeout.ms: 2000, heartbeat.interval.ms: 500}"),
     16, "group.min.session.timeout.ms"),
    ("fault-after-end", ("at_ms: 1000", "at_ms: 99999"), 17, "after the end of the run"),
    # issue #12, defect 8: a fault on a client that does not exist yet (it used to end the run
    # with an internal KeyError)
    ("fault-before-consumer-starts", ("    topics: [orders]\nfaults:\n  - {at_ms: 1000, action: crash, target: broker-1}",
                                      "    topics: [orders]\n    start_ms: 5000\nfaults:\n  - {at_ms: 1000, action: crash, target: c1}"),
     18, "'c1' starts at 5000 ms; a fault at 1000 ms comes before it exists"),
    ("cut-before-producer-starts", ("rate_per_s: 10}\nconsumers:\n  - name: c1\n    topics: [orders]\nfaults:\n"
                                    "  - {at_ms: 1000, action: crash, target: broker-1}",
                                    "rate_per_s: 10, start_ms: 3000}\nconsumers:\n  - name: c1\n    topics: [orders]\nfaults:\n"
                                    "  - {at_ms: 1000, action: cut, from: p1, to: [broker-1]}"),
     17, "'p1' starts at 3000 ms"),
    ("add-partitions-shrinks", ("action: crash, target: broker-1}", "action: add-partitions, topic: orders, partitions: 2}"),
     17, "add-partitions can only increase the count"),
    ("add-partitions-unknown-topic", ("action: crash, target: broker-1}", "action: add-partitions, topic: order, partitions: 6}"),
     17, "unknown topic 'order' (did you mean 'orders'?)"),
]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(text)
    return p


def test_good_scenario_runs(tmp_path: Path, capsys) -> None:
    assert main(["run", str(_write(tmp_path, "good", GOOD))]) == 0


@pytest.mark.parametrize("name,edit,line,fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_scenario_is_one_located_line(tmp_path: Path, capsys, name, edit, line, fragment) -> None:
    old, new = edit
    assert old in GOOD
    path = _write(tmp_path, name, GOOD.replace(old, new, 1))
    code = main(["run", str(path)])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    m = re.match(rf"kafkasim: {re.escape(str(path))}:(\d+):(\d+): ", lines[0])
    assert m, lines[0]
    assert int(m.group(1)) == line, lines[0]
    assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02binary", b"- just\n- a list\n", b"key: [unclosed\n",
                                     b"!!python/object:os.system 'echo hi'\n"])
def test_unreadable_files_exit_2(tmp_path: Path, capsys, content: bytes) -> None:
    p = tmp_path / "x.yaml"
    p.write_bytes(content)
    assert main(["run", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kafkasim: {p}") and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_huge_file_rejected(tmp_path: Path, capsys) -> None:
    p = tmp_path / "big.yaml"
    p.write_text("name: x\n" + "#" * (10 * 1024 * 1024) + "\n")
    assert main(["run", str(p)]) == 2
    assert "1 MiB" in capsys.readouterr().err


def test_missing_file(tmp_path: Path, capsys) -> None:
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml" in capsys.readouterr().err


# -- processing time distributions ---------------------------------------------------------------------
_PROC = """
name: proc
duration_ms: 20000
cluster: {{brokers: 1}}
topics: [{{name: t, partitions: 1, replication_factor: 1}}]
producers: [{{name: p, workload: {{topic: t, count: 400, rate_per_s: 100}}}}]
consumers:
  - {{name: c, topics: [t], processing_ms: {proc}, commit: after-poll,
     config: {{group.id: g, auto.offset.reset: earliest, max.poll.records: 1}}}}
"""


@pytest.mark.parametrize("proc,problem", [
    ("{distribution: normal, mean: 5}", "expected one of uniform, exponential, choice, got 'normal'"),
    ("{distribution: uniform, min: 9, max: 3}", "must be >= 9"),
    ("{distribution: uniform, mean: 3}", "'mean' does not apply to distribution uniform"),
    ("{distribution: exponential}", "missing required key 'mean'"),
    ("{distribution: exponential, mean: -1}", "must be >= 0"),
])
def test_bad_processing_distributions_are_located_errors(proc: str, problem: str) -> None:
    from kafkasim.scenario.load import loads

    with pytest.raises(ScenarioError, match=re.escape(problem)) as exc:
        loads(_PROC.format(proc=proc), "proc.yaml")
    assert str(exc.value).startswith("proc.yaml:")


@pytest.mark.parametrize("proc", ["10", "{distribution: uniform, min: 2, max: 18}",
                                  "{distribution: exponential, mean: 10}"])
def test_a_backlog_takes_the_sum_of_the_draws(proc: str) -> None:
    """400 records wait when the consumer starts; processed back to back, they take about
    400 x the mean (10 ms), whatever the distribution (the sum of 400 draws is within 10 %)."""
    from kafkasim.scenario.load import loads
    from kafkasim.scenario.run import run

    text = _PROC.format(proc=proc).replace("processing_ms:", "start_ms: 6000, processing_ms:")
    sc = loads(text)
    assert sc.consumers[0].processing_ms == 10
    times = [e.t for e in run(sc).trace.events if e.kind == "app.processed"]
    assert len(times) == 400
    assert 3600 <= times[-1] - times[0] <= 4400 + 400  # + a poll's round trip per record at most


def test_distribution_draws_stay_in_range_with_the_right_mean() -> None:
    import random

    from kafkasim.scenario.model import Distribution

    uniform, expo = Distribution("uniform", 10.0, 2, 18), Distribution("exponential", 10.0)
    draws = [uniform.total(1, random.Random(i)) for i in range(3000)]
    assert min(draws) >= 2 and max(draws) <= 18 and 9.5 <= sum(draws) / 3000 <= 10.5
    draws = [expo.total(1, random.Random(i)) for i in range(3000)]
    assert min(draws) >= 0 and max(draws) > 40 and 9 <= sum(draws) / 3000 <= 11  # a long tail
    assert Distribution("constant", 7.0).total(3, None) == 21
    mix = Distribution("choice", 0, 100, 2_000_000, (100, 100, 100, 2_000_000))
    draws = [mix.draw(random.Random(i)) for i in range(4000)]
    assert set(draws) == {100, 2_000_000} and 900 <= draws.count(2_000_000) <= 1100
    assert mix.largest == 2_000_000


# -- workload: count, or rate and duration ---------------------------------------------------------
_WL = """
name: wl
duration_ms: 10000
cluster: {{brokers: 1}}
topics: [{{name: t, partitions: 1, replication_factor: 1}}]
producers: [{{name: p, workload: {{topic: t, {wl}}}}}]
"""


@pytest.mark.parametrize("wl,count", [("rate_per_s: 100, duration_ms: 2000", 200),
                                      ("rate_per_s: 100, duration_ms: 2005", 201),  # due at 0, 10, ..., 2000
                                      ("rate_per_s: 0.5, duration_ms: 1", 1), ("duration_ms: 0", 0)])
def test_rate_and_duration_give_the_records_due_in_that_time(wl: str, count: int) -> None:
    from kafkasim.scenario.load import loads

    assert loads(_WL.format(wl=wl)).producers[0].workload.count == count


@pytest.mark.parametrize("wl,problem", [("count: 5, duration_ms: 100", "not both"),
                                        ("rate_per_s: 10", "not neither"),
                                        ("rate_per_s: 1e9, duration_ms: 999999999", "more than 100000000 records")])
def test_count_or_duration_exactly_one(wl: str, problem: str) -> None:
    from kafkasim.scenario.load import loads

    with pytest.raises(ScenarioError, match=problem) as exc:
        loads(_WL.format(wl=wl), "wl.yaml")
    assert str(exc.value).startswith("wl.yaml:6:")


def test_a_cut_between_node_sets_is_one_fault_per_source() -> None:
    from kafkasim.scenario.load import loads

    text = """
name: sets
duration_ms: 1000
cluster: {brokers: 4}
topics: [{name: t, partitions: 1, replication_factor: 3}]
faults:
  - {at_ms: 10, action: cut, from: [broker-1, broker-2], to: [broker-3, broker-4]}
  - {at_ms: 20, action: cut, from: [broker-1], to: broker-1}
"""
    with pytest.raises(ScenarioError, match=r"sets.yaml:8:.*'broker-1' is on both sides"):
        loads(text, "sets.yaml")
    faults = loads(text.rsplit("  - {at_ms: 20", 1)[0]).faults
    assert [(f.target, f.peers) for f in faults] == [("broker-1", ("broker-3", "broker-4")),
                                                    ("broker-2", ("broker-3", "broker-4"))]
