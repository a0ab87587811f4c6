"""Power loss and disk loss of a broker: what its logs keep, what the cluster then recovers.

Rules: a power loss keeps what Kafka fsynced (segment roll, flush.messages) and what the OS
wrote back (PartitionLog's durability model); a disk loss keeps nothing, and the replica is
rebuilt from its leader; the switch crash_model: power_loss turns every crash into one.
"""

from __future__ import annotations

import pytest

from kafkasim.errors import ScenarioError
from kafkasim.scenario.load import loads

ONE = """
name: pl
duration_ms: 60000
cluster:
  brokers: 3
  switches: {{crash_model: {model}}}
topics: [{{name: t, partitions: 1, replication_factor: 3}}]
producers:
  - name: p
    config: {{acks: all}}
    workload: {{topic: t, count: 2000, rate_per_s: 100}}
faults:
  - {{at_ms: 15000, action: {action}, target: broker-2}}
  - {{at_ms: 16000, action: restart, target: broker-2}}
"""


@pytest.mark.parametrize(("action", "model", "kept"), [
    ("crash", "process", 1500),  # a process crash: the page cache survives
    ("power-loss", "process", 0),  # nothing was dirty for 30 s yet: nothing was written back
    ("crash", "power_loss", 0),  # the switch: every crash is a power loss
    ("disk-loss", "process", 0),
])
def test_what_a_follower_keeps_and_that_it_catches_up_again(kit, action: str, model: str, kept: int) -> None:
    sim = kit.build(ONE.format(action=action, model=model))
    sim.world.run(15001)
    log = sim.cluster.brokers[2].logs.get(kit.TP)
    assert (log.leo if log is not None else 0) in range(kept - 5, kept + 2)  # what was sent up to 15 s, give or take a batch
    assert (log is None) == (action == "disk-loss")
    report = kit.run_to_end(sim)
    assert report.stats["lost_acknowledged"] == 0  # broker-1 and broker-3 had everything
    assert kit.log(sim, 2).leo == kit.log(sim, 1).leo == 2000  # re-replicated, and back in the ISR
    assert 2 in kit.record(sim).isr
    reasons = {e.data["reason"] for e in kit.events(sim, "log.truncate", node="broker-2")}
    assert reasons == ({"power_loss"} if kept == 0 and action != "disk-loss" else
                       {"disk_loss"} if action == "disk-loss" else set())


@pytest.mark.parametrize("target", ["p", "controller"])
def test_only_brokers_lose_power_or_disks(target: str) -> None:
    text = ONE.format(action="power-loss", model="process").replace("target: broker-2}\n  - {at_ms: 16000",
                                                                    f"target: {target}}}\n  - {{at_ms: 16000")
    with pytest.raises(ScenarioError, match=r"faults\[0\]\.target: power-loss of '.*': only brokers"):
        loads(text, "pl.yaml")
