"""CooperativeStickyAssignor: pinned rounds from Kafka's tests and the spec (section 6), and
the safety / convergence properties of CooperativeStickyAssignorTest.verifyValidityAndBalance."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from kafkasim.group.assignors import (
    Subscription,
    assign,
    assignment_problems,
    balance_problems,
    revoked_and_added,
)
from kafkasim.records import TopicPartition
from kafkasim.testing import next_round
from kafkasim.testing.strategies import assignment_inputs

S = Subscription
COOP = "cooperative-sticky"
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def tps(spec: str) -> list[TopicPartition]:
    out = []
    for item in spec.split():
        t, p = item.rsplit("-", 1)
        out.append(TopicPartition(t, int(p)))
    return sorted(out)


def own(spec: str) -> tuple[TopicPartition, ...]:
    return tuple(tps(spec))


def test_one_member_joins_two_rounds():
    """Spec 6: consumer1 owns t-0..2, consumer2 joins. Round 1 withholds t-2; round 2 hands it
    over (AbstractStickyAssignorTest.testAddRemoveConsumerOneTopic transfer map)."""
    ppt = {"t": 3}
    subs = [S("consumer1", ("t",), own("t-0 t-1 t-2"), 1), S("consumer2", ("t",), (), 1)]
    r1 = assign(COOP, ppt, subs)
    assert r1.assignment == {"consumer1": tps("t-0 t-1"), "consumer2": []}
    assert r1.transferring == frozenset(tps("t-2"))
    r2 = assign(COOP, ppt, next_round(subs, r1))
    assert r2.assignment == {"consumer1": tps("t-0 t-1"), "consumer2": tps("t-2")}
    assert r2.transferring == frozenset()


def test_same_generation_conflict_is_withheld_one_round():
    """CooperativeStickyAssignorTest.testAllConsumersHaveOwnedPartitionInvalidatedWhenClaimed
    ByMultipleConsumersInSameGenerationWith{Equal,Unequal}PartitionsPerConsumer."""
    subs = [S("consumer1", ("topic",), own("topic-0 topic-1"), 1),
            S("consumer2", ("topic",), own("topic-0 topic-2"), 1),
            S("consumer3", ("topic",), (), 1)]
    r = assign(COOP, {"topic": 3}, subs)
    assert r.assignment == {"consumer1": tps("topic-1"), "consumer2": tps("topic-2"),
                            "consumer3": []}
    assert r.transferring == frozenset(tps("topic-0"))
    r = assign(COOP, {"topic": 4}, subs)
    assert r.assignment == {"consumer1": tps("topic-1 topic-3"), "consumer2": tps("topic-2"),
                            "consumer3": []}
    assert r.transferring == frozenset(tps("topic-0"))


def test_unowned_partitions_are_not_withheld():
    """CooperativeStickyAssignorTest.testAssignorWithOldVersionSubscriptions."""
    subs = [S("consumer1", ("topic1",), own("topic1-0"), 1),
            S("consumer2", ("topic1",), own("topic1-1"), 1), S("consumer3", ("topic1",), (), 1)]
    r = assign(COOP, {"topic1": 3}, subs)
    assert r.assignment == {"consumer1": tps("topic1-0"), "consumer2": tps("topic1-1"),
                            "consumer3": tps("topic1-2")}
    assert not r.transferring


def test_partitions_of_a_member_that_left_move_in_one_round():
    """Spec 6: a member that leaves has no claims; its partitions are handed out at once."""
    subs = [S("a", ("t",), own("t-0 t-1"), 3), S("c", ("t",), (), 3)]  # "b" (t-2, t-3) left
    r = assign(COOP, {"t": 4}, subs)
    assert r.assignment == {"a": tps("t-0 t-1"), "c": tps("t-2 t-3")}
    assert not r.transferring


def test_add_two_consumers_transfer_map():
    """AbstractStickyAssignorTest.testAddRemoveTwoConsumersTwoTopics: partitionsTransferring
    Ownership = {topic1-2: consumer3, topic2-3: consumer3, topic2-2: consumer4}."""
    both = ("topic1", "topic2")
    subs = [S("consumer1", both, own("topic1-0 topic1-2 topic2-1 topic2-3"), 1),
            S("consumer2", both, own("topic1-1 topic2-0 topic2-2"), 1),
            S("consumer3", both, (), 1), S("consumer4", both, (), 1)]
    r = assign(COOP, {"topic1": 3, "topic2": 4}, subs)
    assert r.transferring == frozenset(tps("topic1-2 topic2-3 topic2-2"))
    assert r.assignment == {"consumer1": tps("topic1-0 topic2-1"),
                            "consumer2": tps("topic1-1 topic2-0"), "consumer3": [], "consumer4": []}


def test_general_path_rounds_match_kafka():
    """AbstractStickyAssignorTest.testRackAwareAssignmentWithNonEqualSubscription, cooperative
    non-rack expectation: owned -> intermediate -> final assignment."""
    allt = ("t1", "t2", "t3")
    ppt = {"t1": 6, "t2": 7, "t3": 2}
    topics = {"consumer0": allt, "consumer1": allt, "consumer2": ("t1", "t3")}
    owned = {"consumer0": own("t1-0 t1-1 t1-2 t1-3 t1-4"),
             "consumer1": own("t1-5 t2-0 t2-1 t2-2 t2-3"),
             "consumer2": own("t2-4 t2-5 t2-6 t3-0 t3-1")}
    subs = [S(m, topics[m], owned[m]) for m in topics]
    r1 = assign(COOP, ppt, subs)
    assert r1.assignment == {"consumer0": tps("t1-2 t1-3 t1-4"),
                             "consumer1": tps("t2-0 t2-1 t2-2 t2-3"),
                             "consumer2": tps("t3-0 t3-1")}
    r2 = assign(COOP, ppt, [S(m, topics[m], tuple(r1.assignment[m])) for m in topics])
    assert r2.assignment == {"consumer0": tps("t1-2 t1-3 t1-4 t2-4 t2-5"),
                             "consumer1": tps("t2-0 t2-1 t2-2 t2-3 t2-6"),
                             "consumer2": tps("t1-0 t1-1 t1-5 t3-0 t3-1")}
    assert not r2.transferring


@FAST
@given(assignment_inputs(max_members=6, max_partitions=8, max_topics=5))
def test_withheld_partitions_are_exactly_the_sticky_targets_in_transit(inp):
    """Cooperative = the eager sticky target minus the transferring partitions, and a
    partition revoked from its owner is never assigned to a new owner in the same round."""
    eager = assign("sticky", *inp)
    coop = assign(COOP, *inp)
    assert assignment_problems(*inp, coop) == []
    for m, lst in eager.assignment.items():
        assert set(coop.assignment[m]) <= set(lst)
        assert set(lst) - set(coop.assignment[m]) <= coop.transferring
    assert {tp for lst in eager.assignment.values() for tp in lst} == (
        {tp for lst in coop.assignment.values() for tp in lst} | coop.transferring)
    assert revoked_and_added(inp.subscriptions, coop) == set()
    owned = {tuple(tp) for s in inp.subscriptions for tp in s.owned}
    assert all(tuple(tp) in owned for tp in coop.transferring)


@FAST
@given(assignment_inputs(max_members=6, max_partitions=8, max_topics=5))
def test_converges_within_four_follow_up_rebalances(inp):
    """CooperativeStickyAssignorTest.verifyValidityAndBalance: while anything is revoked,
    rebalance again with owned = last assignment; at most 4 follow-ups, every round safe,
    the final state valid and balanced."""
    ppt, subs = inp
    result = assign(COOP, ppt, subs)
    follow_ups = 0
    while any(set(s.owned) - set(result.assignment[s.member_id]) for s in subs):
        assert revoked_and_added(subs, result) == set()
        subs = next_round(subs, result)
        result = assign(COOP, ppt, subs)
        follow_ups += 1
        assert follow_ups <= 4
    assert not result.transferring
    assert assignment_problems(ppt, subs, result) == []
    assert balance_problems(subs, result) == []


@FAST
@given(assignment_inputs(max_members=6, max_partitions=8, owned="none"))
def test_nothing_owned_means_nothing_withheld(inp):
    coop = assign(COOP, *inp)
    assert not coop.transferring
    assert coop.assignment == assign("sticky", *inp).assignment
