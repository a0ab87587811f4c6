"""A follower that is alive and heartbeating but cannot fetch from its leader (issue #12):
it stays registered, and leaves the ISR only by replica.lag.time.max.ms."""

from __future__ import annotations

from pathlib import Path

from kafkasim.scenario.load import load
from kafkasim.scenario.run import run

LESSON = Path(__file__).parents[2] / "scenarios" / "07-follower-cannot-fetch.yaml"


def test_a_follower_cut_from_its_leader_leaves_the_isr_by_lag_time_and_is_never_fenced() -> None:
    trace = run(load(LESSON)).trace
    (cut,) = trace.of("net.cut")
    assert not trace.of("broker.fenced")  # its heartbeats to the controller go on
    changes = [e for e in trace.of("isr.change") if e.data["topic"] == "dev.orders.placed"]
    assert [(e.data["reason"], e.data["isr"]) for e in changes] == [("shrink", [1, 2]), ("expand", [1, 2, 3])]
    # out of sync once not caught up for replica.lag.time.max.ms (30 s), seen at the leader's
    # next ISR check (every 15 s): between 30 and 45 s after the cut
    assert 30_000 <= changes[0].t - cut.t <= 45_000
    hw = [e.t for e in trace.of("hw.advance") if e.data["topic"] == "dev.orders.placed" and cut.t < e.t]
    assert hw[0] >= changes[0].t  # with acks=all nothing new is committed while broker-3 is in the ISR


def test_a_commit_that_times_out_in_the_coordinator_is_answered_request_timed_out() -> None:
    """GroupCoordinatorService.normalizeException keeps a write timeout as it is (only missing
    replicas become COORDINATOR_NOT_AVAILABLE and a lost leadership NOT_COORDINATOR); the
    consumer marks the coordinator unknown, which fails the other requests on that connection."""
    trace = run(load(LESSON)).trace
    errors = [e.data["error"] for e in trace.of("commit.fail")]
    assert errors and errors[0] == "REQUEST_TIMED_OUT" and "NOT_COORDINATOR" not in errors
    assert set(errors) <= {"REQUEST_TIMED_OUT", "NETWORK_EXCEPTION"}
