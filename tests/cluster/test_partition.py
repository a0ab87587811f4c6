"""Leader-side partition rules: the high-watermark advance, strict min-ISR, ISR shrink and expand.

Rules: §2 (HW = min LEO over the maximal ISR; strict min-ISR, KAFKA-15583), §3
(lastCaughtUpTime, replica.lag.time.max.ms, expand condition), §19 (``strict_min_isr``).
Kafka: Partition.maybeIncrementLeaderHW / isUnderMinIsr / isFollowerInSync,
Replica.updateFetchStateOrThrow / isCaughtUp, PendingExpandIsr / PendingShrinkIsr.maximalIsr.
"""

from __future__ import annotations

import inspect

import pytest

from kafkasim.cluster.log import PartitionLog, RecordBatch
from kafkasim.cluster.partition import Partition
from kafkasim.records import TopicPartition

TP = TopicPartition("t", 0)
LAG = 30_000  # replica.lag.time.max.ms default


def append(p: Partition, count: int, epoch: int | None = None) -> None:
    log = p.log
    log.append(RecordBatch(log.leo, count, p.leader_epoch if epoch is None else epoch, 100, 0))


def leader(*, replicas: tuple[int, ...] = (1, 2, 3), isr: tuple[int, ...] | None = None, min_isr: int = 2,
           strict: bool = True, leo: int = 10, epoch: int = 0, now: int = 0) -> Partition:
    """Broker 1 leading a partition whose log already holds ``leo`` records of epoch 0."""
    log = PartitionLog()
    if leo:
        log.append(RecordBatch(0, leo, 0, 100, 0))
    p = Partition(TP, log, 1, replicas=replicas, isr=replicas if isr is None else isr, leader=1,
                  leader_epoch=epoch, partition_epoch=0, min_isr=min_isr, strict_min_isr=strict)
    p.become_leader(now)
    return p


def new_hw_at(p: Partition, now: int) -> int | None:
    """``p.new_hw()``, passing the clock if the rule is given one (Kafka's isCaughtUp needs it)."""
    params = inspect.signature(p.new_hw).parameters
    kwargs = {k: v for k, v in (("now", now), ("max_lag_ms", LAG)) if k in params}
    return p.new_hw(**kwargs)


def advance(p: Partition) -> int:
    hw = p.new_hw()
    if hw is not None:
        p.log.hw = hw
    return p.log.hw


# -- the HW rule ------------------------------------------------------------------------------------
def test_hw_is_the_minimum_leo_over_the_isr() -> None:
    p = leader()
    p.update_follower(2, 7, now=10)
    p.update_follower(3, 4, now=10)
    assert p.new_hw() == 4
    assert advance(p) == 4
    p.update_follower(3, 10, now=20)
    assert p.new_hw() == 7
    p.update_follower(2, 10, now=20)
    assert advance(p) == 10


def test_replicas_outside_the_isr_do_not_hold_the_hw_back() -> None:
    p = leader(isr=(1, 2))
    p.update_follower(2, 9, now=10)
    p.update_follower(3, 0, now=10)
    assert p.new_hw() == 9


def test_hw_waits_until_every_isr_followers_leo_is_known() -> None:
    """After becoming leader the followers' LEOs are unknown: the HW cannot move until they fetch."""
    p = leader()
    p.update_follower(2, 10, now=5)
    assert p.new_hw() is None
    p.update_follower(3, 10, now=6)
    assert p.new_hw() == 10


def test_hw_never_moves_backwards() -> None:
    p = leader()
    p.log.hw = 8
    p.update_follower(2, 10, now=5)
    p.update_follower(3, 5, now=5)  # e.g. a follower that just truncated
    assert p.new_hw() is None
    assert advance(p) == 8


def test_leader_alone_in_the_isr_with_min_isr_one_commits_at_its_leo() -> None:
    p = leader(isr=(1,), min_isr=1)
    assert p.new_hw() == 10


# -- strict min-ISR (Kafka >= 3.7) ------------------------------------------------------------------
@pytest.mark.parametrize(("isr", "min_isr"), [((1,), 2), ((1, 2), 3), ((1,), 3)])
def test_strict_min_isr_freezes_the_hw_below_min_isr(isr: tuple[int, ...], min_isr: int) -> None:
    p = leader(isr=isr, min_isr=min_isr)
    for r in isr[1:]:
        p.update_follower(r, 10, now=5)
    assert p.new_hw() is None
    append(p, 5)
    assert p.new_hw() is None


def test_effective_min_isr_is_capped_by_the_replication_factor() -> None:
    """effective_minISR = min(min.insync.replicas, RF): min.insync.replicas=3 on RF 2 needs 2."""
    p = leader(replicas=(1, 2), min_isr=3)
    p.update_follower(2, 10, now=5)
    assert p.new_hw() == 10


@pytest.mark.parametrize("isr", [(1,), (1, 2)])
def test_without_strict_min_isr_the_hw_advances_below_min_isr(isr: tuple[int, ...]) -> None:
    """Switch strict_min_isr=False (< 3.7): the leader alone (or a small ISR) can commit."""
    p = leader(isr=isr, min_isr=3, strict=False)
    for r in isr[1:]:
        p.update_follower(r, 10, now=5)
    assert p.new_hw() == 10


# -- the maximal ISR --------------------------------------------------------------------------------
def test_pending_shrink_still_waits_for_the_removed_follower() -> None:
    """PendingShrinkIsr.maximalIsr is the committed ISR: until the shrink commits, the HW waits."""
    p = leader()
    p.update_follower(2, 10, now=5)
    p.update_follower(3, 6, now=5)
    p.pending_isr = (1, 2)
    assert p.new_hw() == 6


def test_pending_expansion_counts_the_joining_follower() -> None:
    """PendingExpandIsr.maximalIsr = ISR + the new member: the HW must not pass its LEO."""
    p = leader(isr=(1, 2))
    p.update_follower(2, 10, now=5)
    p.update_follower(3, 6, now=5)
    p.pending_isr = (1, 2, 3)
    assert p.new_hw() == 6


def test_strict_min_isr_counts_only_the_committed_isr() -> None:
    p = leader(isr=(1,), min_isr=2)
    p.update_follower(2, 10, now=5)
    p.pending_isr = (1, 2)  # AlterPartition to add broker 2 is in flight
    assert p.new_hw() is None


def test_caught_up_replica_waiting_to_join_holds_the_hw() -> None:
    p = leader(isr=(1, 2))
    p.update_follower(3, 10, now=1000)  # caught up with the leader's LEO (10) at t=1000
    append(p, 10)  # leader LEO 20
    p.update_follower(2, 20, now=1100)
    # replica 3 (LEO 10) is still caught up at t=1100 (1100 - 1000 <= replica.lag.time.max.ms)
    assert new_hw_at(p, 1100) == 10


# -- lastCaughtUpTime and ISR shrink ----------------------------------------------------------------
def test_last_caught_up_time_rule() -> None:
    """§3: fetch offset >= leader LEO now -> caught up now; else >= the leader LEO at the previous
    fetch -> caught up as of the previous fetch; else unchanged."""
    p = leader(leo=10)
    f = p.update_follower(2, 10, now=1000)
    assert f.last_caught_up == 1000  # at the leader's LEO
    append(p, 10)  # LEO 20
    f = p.update_follower(2, 10, now=1500)  # behind, but at the LEO seen at the previous fetch (10)
    assert f.last_caught_up == 1000
    append(p, 10)  # LEO 30
    f = p.update_follower(2, 20, now=2000)  # behind (30), but >= LEO at the previous fetch (20)
    assert f.last_caught_up == 1500
    append(p, 10)  # LEO 40
    f = p.update_follower(2, 25, now=2500)  # behind the LEO at the previous fetch (30): no change
    assert f.last_caught_up == 1500
    f = p.update_follower(2, 40, now=3000)
    assert f.last_caught_up == 3000


def test_isr_members_count_as_caught_up_when_a_leader_takes_over() -> None:
    p = leader(isr=(1, 2), now=700)
    assert p.followers[2].last_caught_up == 700
    assert p.followers[3].last_caught_up == 0


def test_follower_out_of_sync_after_replica_lag_time_max() -> None:
    """A slow follower (always behind) leaves once not caught up for more than 30 s."""
    p = leader(leo=10)
    p.update_follower(2, 10, now=1000)
    p.update_follower(3, 10, now=1000)
    append(p, 5)
    p.update_follower(2, 15, now=1200)
    assert p.out_of_sync(1000 + LAG, LAG) == [], "exactly replica.lag.time.max.ms behind is still in sync"
    assert p.out_of_sync(1000 + LAG + 1, LAG) == [3]


def test_stuck_follower_that_never_fetches_leaves() -> None:
    p = leader(now=0)
    append(p, 1)
    p.update_follower(2, 11, now=20_000)
    assert p.out_of_sync(LAG, LAG) == []
    assert p.out_of_sync(LAG + 1, LAG) == [3]


def test_follower_at_the_leaders_leo_is_never_out_of_sync() -> None:
    """No new data: a follower whose LEO equals the leader's stays in the ISR however long ago it fetched."""
    p = leader(leo=10)
    p.update_follower(2, 10, now=1)
    p.update_follower(3, 10, now=1)
    assert p.out_of_sync(10 * LAG, LAG) == []


def test_only_isr_followers_are_reported_out_of_sync() -> None:
    p = leader(isr=(1, 2))
    append(p, 3)
    assert p.out_of_sync(5 * LAG, LAG) == [2], "replica 3 is not in the ISR; the leader is never reported"


# -- ISR expand -------------------------------------------------------------------------------------
@pytest.fixture
def epoch1_leader() -> Partition:
    """Leader in epoch 1 whose epoch started at offset 10; LEO 15, HW 8; replica 3 is out of the ISR."""
    p = leader(isr=(1, 2), epoch=1, leo=10)
    assert p.log.epoch_start(1) == 10
    append(p, 5)
    p.log.hw = 8
    return p


@pytest.mark.parametrize(("leo", "joins"), [(7, False), (8, False), (9, False), (10, True), (15, True)])
def test_can_join_isr_needs_leo_at_hw_and_at_the_epoch_start(epoch1_leader: Partition, leo: int,
                                                            joins: bool) -> None:
    """§3 expand: follower LEO >= leader HW and >= start offset of the leader's current epoch."""
    epoch1_leader.update_follower(3, leo, now=100)
    assert epoch1_leader.can_join_isr(3) is joins


def test_can_join_isr_needs_leo_at_least_the_hw() -> None:
    p = leader(isr=(1, 2), leo=10)
    p.log.hw = 10
    p.update_follower(3, 9, now=5)
    assert not p.can_join_isr(3)
    p.update_follower(3, 10, now=6)
    assert p.can_join_isr(3)


def test_isr_member_is_not_a_join_candidate() -> None:
    p = leader()
    p.update_follower(2, 10, now=5)
    assert not p.can_join_isr(2)
