"""Consumer commit strategies: commitSync waits for the coordinator, commitAsync does not; a
failed async commit is traced and counted, never retried (Java ``KafkaConsumer.commitAsync``:
"errors encountered are either passed to the callback (if provided) or discarded")."""

from __future__ import annotations

import pytest

from kafkasim.errors import ScenarioError
from kafkasim.scenario.load import COMMIT_STRATEGIES, loads
from kafkasim.scenario.run import run

BASE = """\
name: commits
duration_ms: {duration}
cluster:
  brokers: 3
  network: {{latency_ms: {{min: 10, max: 10}}}}
topics:
  - {{name: t, partitions: 1, replication_factor: 3}}
producers:
  - name: p
    workload: {{topic: t, count: {count}, rate_per_s: 100}}
consumers:
  - name: c
    topics: [t]
    processing_ms: 2
    commit: {commit}
    config: {config}
{faults}"""


def _scenario(commit: str, config: str = "{group.id: g, auto.offset.reset: earliest}", duration: int = 20000,
              count: int = 500, faults: str = ""):
    return loads(BASE.format(commit=commit, config=config, duration=duration, count=count, faults=faults))


def test_after_poll_async_is_a_strategy_and_turns_auto_commit_off() -> None:
    assert "after-poll-async" in COMMIT_STRATEGIES
    [c] = _scenario("after-poll-async").consumers
    assert c.commit == "after-poll-async" and c.config["enable.auto.commit"] is False


@pytest.mark.parametrize("config,fragment", [
    ("{group.id: g, enable.auto.commit: true}", "commits by hand, but config sets enable.auto.commit: true"),
    ("{auto.offset.reset: earliest}", "needs a group.id"),
])
def test_after_poll_async_is_validated_with_a_located_error(config: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as err:
        _scenario("after-poll-async", config)
    assert "consumers[0].commit" in str(err.value) and fragment in str(err.value)
    assert ":15:" in str(err.value)  # the line of `commit:`


def _commits_and_processing(commit: str) -> tuple[list, list]:
    trace = run(_scenario(commit)).trace
    commits = [e for e in trace.of("commit.ok", "commit.fail") if e.node == "c"]
    processed = [(e.t, e.data["count"]) for e in trace.of("app.processed")]
    return commits, processed


def test_commit_sync_blocks_the_loop_for_the_round_trip_commit_async_does_not() -> None:
    """A commit costs 4 one-way trips (40 ms): request, ISR replication of __consumer_offsets
    (a follower's fetch response, its next fetch), response. The sync loop processes nothing
    while one is outstanding; the async loop goes on processing meanwhile."""
    sync, sync_proc = _commits_and_processing("after-poll")
    asyn, asyn_proc = _commits_and_processing("after-poll-async")
    assert sync and asyn
    assert {e.data["reason"] for e in sync} == {"sync"} and {e.data["reason"] for e in asyn} == {"async"}

    def busy_while_committing(commits: list, processed: list) -> int:
        # processing that happened strictly inside a commit's 40 ms round trip
        return sum(1 for e in commits for t, _n in processed if e.t - 40 < t < e.t)

    assert busy_while_committing(sync, sync_proc) == 0
    assert busy_while_committing(asyn, asyn_proc) > 0
    assert sum(n for _t, n in sync_proc) == sum(n for _t, n in asyn_proc) == 500  # both keep up here


def test_a_failed_async_commit_is_traced_counted_and_not_retried() -> None:
    """The consumer is cut off from every broker for longer than request.timeout.ms: the first
    commit's deadline closes the connection and every commit in flight on it fails at once
    (RetriableCommitFailedException); the loop goes on; no offsets are sent twice. A commit
    still stalled in the cut arrives at the heal and is refused: the member expired meanwhile."""
    cut = "faults:\n" + "".join(
        f"  - {{at_ms: {t}, action: {a}, from: c, to: [broker-1, broker-2, broker-3]}}\n"
        for t, a in ((6000, "cut"), (50000, "heal")))
    res = run(_scenario("after-poll-async", duration=60000, count=1000, faults=cut))
    fails = [e for e in res.trace.of("commit.fail") if e.node == "c"]
    timed_out = [e for e in fails if e.data["error"] == "REQUEST_TIMED_OUT"]
    assert timed_out and {e.data["exception"] for e in timed_out} == {"RetriableCommitFailedException"}
    assert len({e.t for e in timed_out}) == 1, "one deadline fails every commit in flight on the connection"
    assert {(e.data["exception"], e.data["error"]) for e in fails if e not in timed_out} <= {
        ("CommitFailedException", "UNKNOWN_MEMBER_ID")}
    assert all(e.t >= 50_000 for e in fails if e not in timed_out)
    assert {e.data["reason"] for e in fails} == {"async"}
    assert res.result["groups"]["g"]["commit_failures"] == len(fails)
    sent = [(e.data["generation"], tuple(map(tuple, e.data["offsets"])))
            for e in res.trace.of("commit.ok", "commit.fail") if e.node == "c"]
    assert len(sent) == len(set(sent)), "an async commit was retried"


def test_failed_commit_lesson_cuts_the_owner_from_its_coordinator_only() -> None:
    """The premises the lesson's description states: broker-3 coordinates 'mailers', the
    partition's leader is another broker (so mailer-1 keeps fetching), and mailer-1 owns the
    partition when the cut starts; mailer-2 resumes from mailer-1's last successful commit."""
    from kafkasim.scenario import bundled
    from kafkasim.scenario.load import load

    trace = run(load(bundled.path_of("failed-commit-reprocessed"))).trace
    assert {e.node for e in trace.of("group.stable")} == {"broker-3"}
    [final] = [e for e in trace.of("log.final") if e.data["topic"] == "invoices"]
    assert final.data["leader"] != 3
    first = trace.of("member.assigned")[:2]
    assert [e.node for e in first if e.data["partitions"]] == ["mailer-1"]
    cut = next(e.t for e in trace.of("net.cut"))
    last_ok = max((e for e in trace.of("commit.ok") if e.node == "mailer-1" and e.t <= cut), key=lambda e: e.t)
    takeover = next(e for e in trace.of("consumer.seek") if e.node == "mailer-2")
    assert takeover.data["offset"] == last_ok.data["offsets"][0][2]
    rejoined = next(e for e in trace.of("consumer.seek") if e.node == "mailer-1" and e.t > cut)
    uncommitted = sum(e.data["count"] for e in trace.of("app.processed")  # by mailer-1, never committed
                      if e.node == "mailer-1" and takeover.data["offset"] <= e.data["offset"] < rejoined.data["offset"])
    assert 2000 <= uncommitted <= 2300  # 100 records/s from the cut (20 s) until it learns it is out (40-43 s)
