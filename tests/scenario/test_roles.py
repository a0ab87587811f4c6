"""Faults aimed by role (issue #12): resolved from the controller's state when they fire."""

from __future__ import annotations

import textwrap

import pytest

from kafkasim.errors import ScenarioError
from kafkasim.group.coordinator import OFFSETS_TOPIC, offsets_partition
from kafkasim.records import TopicPartition
from kafkasim.scenario.load import loads
from kafkasim.scenario.run import build, finish

BASE = """\
name: roles
duration_ms: 30000
cluster: {brokers: 3}
topics: [{name: orders, partitions: 2, replication_factor: 3}]
producers:
  - name: app
    workload: {topic: orders, count: 500, rate_per_s: 100}
consumers:
  - name: reader
    topics: [orders]
    config: {group.id: billing, auto.offset.reset: earliest}
faults:
"""


def sim_with(faults: str):
    sc = loads(BASE + textwrap.indent(textwrap.dedent(faults), "  "))
    sim = build(sc)
    return sc, sim


def test_crash_of_a_partitions_leader_hits_the_broker_leading_it_then_and_restart_undoes_it() -> None:
    sc, sim = sim_with("""\
        - {at_ms: 3000, action: crash, target: "leader:orders-1"}
        - {at_ms: 20000, action: restart, target: "leader:orders-1"}
    """)
    sim.world.run(2999)
    leader = sim.cluster.controller.partitions[TopicPartition("orders", 1)].leader
    sim.world.run(sc.duration_ms)
    finish(sim)
    t = sim.world.trace
    assert [e.data["broker"] for e in t.of("broker.crash")] == [leader]
    assert [e.data["broker"] for e in t.of("broker.restart")] == [leader], "the broker that was crashed, not the new leader"
    aimed = [(e.data["action"], e.data["broker"]) for e in t.of("fault.target")]
    assert aimed == [("crash", f"broker-{leader}"), ("restart", f"broker-{leader}")]


def test_a_cut_of_the_group_coordinator_isolates_the_leader_of_the_groups_offsets_partition() -> None:
    sc, sim = sim_with("""\
        - {at_ms: 5000, action: cut, from: "coordinator:billing", to: [reader]}
        - {at_ms: 8000, action: heal, from: "coordinator:billing", to: [reader]}
    """)
    sim.world.run(4999)
    n = sim.cluster.controller.topics[OFFSETS_TOPIC].partitions
    coord = sim.cluster.controller.partitions[TopicPartition(OFFSETS_TOPIC, offsets_partition("billing", n))].leader
    sim.world.run(sc.duration_ms)
    cuts = [(e.node, e.data["peer"]) for e in sim.world.trace.of("net.cut", "net.heal")]
    assert cuts == [(f"broker-{coord}", "reader")] * 2


@pytest.mark.parametrize("fault,message", [
    ('{at_ms: 1000, action: crash, target: "leader:orders-5"}', "unknown partition 'orders-5'"),
    ('{at_ms: 1000, action: cut, from: "coordinator:biling", to: [reader]}', "did you mean 'billing'"),
    ('{at_ms: 1000, action: crash, target: "txn-coordinator:tx"}', "none in this scenario"),
])
def test_a_role_must_name_something_the_scenario_has(fault: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        loads(BASE + "  - " + fault + "\n")
