"""StickyAssignor (eager): exact expectations from Kafka's AbstractStickyAssignorTest,
StickyAssignorTest, the StickyAssignor javadoc and the spec (assignors.md section 5)."""

from __future__ import annotations

from kafkasim.group.assignors import (
    Subscription,
    assign,
    assignment_problems,
    balance_problems,
    is_fully_balanced,
    two_way_moves,
)
from kafkasim.records import TopicPartition
from kafkasim.testing import next_round

S = Subscription


def tps(spec: str) -> list[TopicPartition]:
    out = []
    for item in spec.split():
        t, p = item.rsplit("-", 1)
        out.append(TopicPartition(t, int(p)))
    return sorted(out)


def own(spec: str) -> tuple[TopicPartition, ...]:
    return tuple(tps(spec))


def sticky(ppt, subs):
    result = assign("sticky", ppt, subs)
    assert assignment_problems(ppt, subs, result) == []
    assert balance_problems(subs, result) == []
    return result.assignment


# --- constrained path (identical subscriptions) ----------------------------------------------

def test_fresh_uniform_is_round_robin_over_sorted_members():
    """AbstractStickyAssignorTest.testTwoConsumersTwoTopicsSixPartitions (spec 5.5)."""
    both = ("topic1", "topic2")
    got = sticky({"topic1": 3, "topic2": 3}, [S("consumer2", both), S("consumer1", both)])
    assert got == {"consumer1": tps("topic1-0 topic1-2 topic2-1"),
                   "consumer2": tps("topic1-1 topic2-0 topic2-2")}


def test_rack_aware_uniform_non_rack_expectation():
    """AbstractStickyAssignorTest.testRackAwareAssignmentWithUniformSubscription, the
    nonRackAwareAssignment (t1=6, t2=7, t3=2, three consumers)."""
    allt = ("t1", "t2", "t3")
    ppt = {"t1": 6, "t2": 7, "t3": 2}
    expected = {"consumer0": tps("t1-0 t1-3 t2-0 t2-3 t2-6"),
                "consumer1": tps("t1-1 t1-4 t2-1 t2-4 t3-0"),
                "consumer2": tps("t1-2 t1-5 t2-2 t2-5 t3-1")}
    assert sticky(ppt, [S(f"consumer{i}", allt) for i in range(3)]) == expected
    again = [S(m, allt, tuple(v), 1) for m, v in expected.items()]
    assert sticky(ppt, again) == expected


def test_same_generation_conflict_nobody_keeps_it():
    """StickyAssignorTest.testAllConsumersHaveOwnedPartitionInvalidatedWhenClaimedByMultiple
    ConsumersInSameGenerationWithEqualPartitionsPerConsumer (spec 5.3)."""
    subs = [S("consumer1", ("topic",), own("topic-0 topic-1"), 1),
            S("consumer2", ("topic",), own("topic-0 topic-2"), 1),
            S("consumer3", ("topic",), (), 1)]
    assert sticky({"topic": 3}, subs) == {"consumer1": tps("topic-1"),
                                          "consumer2": tps("topic-2"),
                                          "consumer3": tps("topic-0")}


def test_same_generation_conflict_unequal_partitions():
    """StickyAssignorTest...SameGenerationWithUnequalPartitionsPerConsumer (4 partitions)."""
    subs = [S("consumer1", ("topic",), own("topic-0 topic-1"), 1),
            S("consumer2", ("topic",), own("topic-0 topic-2"), 1),
            S("consumer3", ("topic",), (), 1)]
    assert sticky({"topic": 4}, subs) == {"consumer1": tps("topic-1 topic-3"),
                                          "consumer2": tps("topic-2"),
                                          "consumer3": tps("topic-0")}


def test_consumer_owning_min_quota_expected_max_quota():
    """AbstractStickyAssignorTest.testConsumerOwningMinQuotaExpectedMaxQuota."""
    both = ("topic1", "topic2")
    subs = [S("consumer1", both, own("topic1-0 topic2-1"), 1),
            S("consumer2", both, own("topic1-1 topic2-2"), 1)]
    assert sticky({"topic1": 2, "topic2": 3}, subs) == {
        "consumer1": tps("topic1-0 topic2-0 topic2-1"), "consumer2": tps("topic1-1 topic2-2")}


def test_max_quota_consumers_more_than_expected_max_capacity_members():
    """AbstractStickyAssignorTest.testMaxQuotaConsumerMoreThanNumExpectedMaxCapacityMembers.

    Two members own maxQuota but only one may keep it. Java visits members in HashMap order
    (consumer3, consumer2, consumer1 for these ids), kafkasim in sorted member-id order; with
    ids renamed so both orders agree, Kafka's exact expectation holds.
    """
    both = ("topic1", "topic2")
    ppt = {"topic1": 2, "topic2": 2}
    # kafkasim's own (sorted-order) answer: consumer1 keeps maxQuota
    subs = [S("consumer1", both, own("topic1-0 topic2-0"), 1),
            S("consumer2", both, own("topic1-1 topic2-1"), 1), S("consumer3", both, (), 1)]
    assert sticky(ppt, subs) == {"consumer1": tps("topic1-0 topic2-0"),
                                 "consumer2": tps("topic1-1"), "consumer3": tps("topic2-1")}
    # Kafka's: consumerX visited like Java's consumer1 (last), consumerA like consumer3 (first)
    subs = [S("consumerX", both, own("topic1-0 topic2-0"), 1),
            S("consumerM", both, own("topic1-1 topic2-1"), 1), S("consumerA", both, (), 1)]
    assert sticky(ppt, subs) == {"consumerX": tps("topic1-0"),
                                 "consumerM": tps("topic1-1 topic2-1"), "consumerA": tps("topic2-0")}


def test_all_consumers_are_under_min_quota():
    """AbstractStickyAssignorTest.testAllConsumersAreUnderMinQuota."""
    both = ("topic1", "topic2")
    subs = [S("consumer1", both, own("topic1-0"), 1), S("consumer2", both, own("topic1-1"), 1),
            S("consumer3", both, (), 1)]
    assert sticky({"topic1": 2, "topic2": 3}, subs) == {
        "consumer1": tps("topic1-0 topic2-1"), "consumer2": tps("topic1-1 topic2-2"),
        "consumer3": tps("topic2-0")}


def test_all_consumers_reach_expected_quota_and_are_considered_filled():
    """AbstractStickyAssignorTest.testAllConsumersReachExpectedQuotaAndAreConsideredFilled."""
    subs = [S("consumer1", ("topic",), own("topic-0 topic-1"), 1),
            S("consumer2", ("topic",), own("topic-2"), 1), S("consumer3", ("topic",), (), 1)]
    assert sticky({"topic": 4}, subs) == {"consumer1": tps("topic-0 topic-1"),
                                          "consumer2": tps("topic-2"), "consumer3": tps("topic-3")}


def test_add_remove_consumer_one_topic():
    """AbstractStickyAssignorTest.testAddRemoveConsumerOneTopic."""
    ppt = {"topic": 3}
    assert sticky(ppt, [S("consumer1", ("topic",))]) == {"consumer1": tps("topic-0 topic-1 topic-2")}
    subs = [S("consumer1", ("topic",), own("topic-0 topic-1 topic-2"), 1),
            S("consumer2", ("topic",), (), 1)]
    got = sticky(ppt, subs)
    assert got == {"consumer1": tps("topic-0 topic-1"), "consumer2": tps("topic-2")}
    assert sticky(ppt, [S("consumer2", ("topic",), tuple(got["consumer2"]), 1)]) == {
        "consumer2": tps("topic-0 topic-1 topic-2")}


def test_add_remove_two_consumers_two_topics():
    """AbstractStickyAssignorTest.testAddRemoveTwoConsumersTwoTopics (current Kafka)."""
    both = ("topic1", "topic2")
    ppt = {"topic1": 3, "topic2": 4}
    got = sticky(ppt, [S("consumer1", both), S("consumer2", both)])
    assert got == {"consumer1": tps("topic1-0 topic1-2 topic2-1 topic2-3"),
                   "consumer2": tps("topic1-1 topic2-0 topic2-2")}
    subs = [S("consumer1", both, tuple(got["consumer1"]), 1),
            S("consumer2", both, tuple(got["consumer2"]), 1),
            S("consumer3", both, (), 1), S("consumer4", both, (), 1)]
    got = sticky(ppt, subs)
    assert got == {"consumer1": tps("topic1-0 topic2-1"), "consumer2": tps("topic1-1 topic2-0"),
                   "consumer3": tps("topic1-2 topic2-3"), "consumer4": tps("topic2-2")}
    subs = [S("consumer3", both, tuple(got["consumer3"]), 1),
            S("consumer4", both, tuple(got["consumer4"]), 1)]
    assert sticky(ppt, subs) == {"consumer3": tps("topic1-0 topic1-2 topic2-1 topic2-3"),
                                 "consumer4": tps("topic1-1 topic2-0 topic2-2")}


def test_topic_balance_after_reassignment():
    """AbstractStickyAssignorTest.testTopicBalanceAfterReassignment: keeping owned partitions
    in (partition, topic) order keeps each member's topics balanced."""
    both = ("topic1", "topic2")
    ppt = {"topic1": 12, "topic2": 12}
    subs = [S("consumer1", both)]
    for members, per_topic in ((("consumer1", "consumer2"), 6),
                               (("consumer1", "consumer2", "consumer3", "consumer4"), 3),
                               (("consumer3", "consumer4"), 6)):
        got = sticky(ppt, subs)
        owned = {s.member_id: tuple(got[s.member_id]) for s in subs}
        subs = [S(m, both, owned.get(m, ()), 1) for m in members]
        got = sticky(ppt, subs)
        for lst in got.values():
            assert sum(tp.topic == "topic1" for tp in lst) == per_topic
            assert sum(tp.topic == "topic2" for tp in lst) == per_topic


def test_owned_partitions_invalidated_for_stale_or_missing_generation():
    """AbstractStickyAssignorTest.testOwnedPartitionsAreInvalidatedForConsumerWith{Stale,No}
    Generation: the highest generation keeps a contested partition."""
    both = ("topic", "topic2")
    claims = own("topic-0 topic-2 topic2-1")
    for stale in (9, -1):
        got = sticky({"topic": 3, "topic2": 3}, [S("consumer1", both, claims, 10),
                                                S("consumer2", both, claims, stale)])
        assert got == {"consumer1": tps("topic-0 topic-2 topic2-1"),
                       "consumer2": tps("topic-1 topic2-0 topic2-2")}


def test_ensure_partitions_assigned_to_highest_generation():
    """AbstractStickyAssignorTest.testEnsurePartitionsAssignedToHighestGeneration."""
    allt = ("topic", "topic2", "topic3")
    subs = [S("consumer1", allt, own("topic-0 topic2-0 topic3-0"), 10),
            S("consumer2", allt, own("topic-1 topic2-1 topic3-1"), 9),
            S("consumer3", allt, own("topic2-1 topic3-0 topic3-2"), 8)]
    assert sticky({t: 3 for t in allt}, subs) == {
        "consumer1": tps("topic-0 topic2-0 topic3-0"), "consumer2": tps("topic-1 topic2-1 topic3-1"),
        "consumer3": tps("topic-2 topic2-2 topic3-2")}


def test_no_reassignment_on_current_members():
    """AbstractStickyAssignorTest.testNoReassignmentOnCurrentMembers."""
    allt = ("topic", "topic2", "topic3", "topic1")
    subs = [S("consumer1", allt, (), -1),
            S("consumer2", allt, own("topic-0 topic2-0 topic1-0"), 9),
            S("consumer3", allt, own("topic3-2 topic2-2 topic1-1"), 8),
            S("consumer4", allt, own("topic3-1 topic-1 topic-2"), 7)]
    got = sticky({t: 3 for t in allt}, subs)
    assert got["consumer1"] == tps("topic1-2 topic2-1 topic3-0")


def test_owned_partitions_invalidated_for_consumer_with_multiple_generation():
    """AbstractStickyAssignorTest.testOwnedPartitionsAreInvalidatedForConsumerWithMultipleGeneration."""
    both = ("topic", "topic2")
    subs = [S("consumer1", both, own("topic-0 topic2-1 topic-1"), 10),
            S("consumer2", both, own("topic-0 topic2-1 topic2-2"), 8)]
    assert sticky({"topic": 3, "topic2": 3}, subs) == {
        "consumer1": tps("topic-0 topic-1 topic2-1"), "consumer2": tps("topic-2 topic2-0 topic2-2")}


def test_only_assigns_partitions_from_subscribed_topics():
    """AbstractStickyAssignorTest.testOnlyAssignsPartitionsFromSubscribedTopics: claims on an
    unknown topic are dropped."""
    subs = [S("consumer", ("topic",), own("topic-0 topic-1 other-0 other-1"), 1)]
    assert sticky({"topic": 2}, subs) == {"consumer": tps("topic-0 topic-1")}


def test_stickiness_after_leader_leaves():
    """AbstractStickyAssignorTest.testStickiness."""
    subs = [S(f"consumer{i}", ("topic1",)) for i in (1, 2, 3, 4)]
    first = sticky({"topic1": 3}, subs)
    assert sorted(len(v) for v in first.values()) == [0, 1, 1, 1]
    rest = [S(m, ("topic1",), tuple(first[m]), 1) for m in ("consumer2", "consumer3", "consumer4")]
    second = sticky({"topic1": 3}, rest)
    for m, lst in second.items():
        assert len(lst) == 1 and (not first[m] or lst == first[m])


def test_javadoc_example_one_after_c1_leaves():
    """StickyAssignor javadoc example 1 (4 topics x 2 partitions, C0..C2). Current Java keeps
    every owned partition and hands C1's out round robin: C0 gets t0-1 (the javadoc text,
    written for KIP-54, and kafka-python give C0 t2-0)."""
    allt = ("t0", "t1", "t2", "t3")
    ppt = {t: 2 for t in allt}
    fresh = sticky(ppt, [S(m, allt) for m in ("C0", "C1", "C2")])
    assert fresh == {"C0": tps("t0-0 t1-1 t3-0"), "C1": tps("t0-1 t2-0 t3-1"),
                     "C2": tps("t1-0 t2-1")}
    got = sticky(ppt, [S(m, allt, tuple(fresh[m]), 1) for m in ("C0", "C2")])
    assert got == {"C0": tps("t0-0 t0-1 t1-1 t3-0"), "C2": tps("t1-0 t2-0 t2-1 t3-1")}


# --- general path (subscriptions differ) ---------------------------------------------------

def test_javadoc_example_two_fresh_and_after_c0_leaves():
    """StickyAssignor javadoc example 2: sizes 1/2/3 are balanced; after C0 leaves nothing moves."""
    ppt = {"t0": 1, "t1": 2, "t2": 3}
    subs = [S("C0", ("t0",)), S("C1", ("t0", "t1")), S("C2", ("t0", "t1", "t2"))]
    fresh = sticky(ppt, subs)
    assert fresh == {"C0": tps("t0-0"), "C1": tps("t1-0 t1-1"), "C2": tps("t2-0 t2-1 t2-2")}
    later = [S(s.member_id, s.topics, tuple(fresh[s.member_id]), 1) for s in subs[1:]]
    assert sticky(ppt, later) == {"C1": tps("t0-0 t1-0 t1-1"), "C2": tps("t2-0 t2-1 t2-2")}


def test_multiple_consumers_mixed_topic_subscriptions():
    """AbstractStickyAssignorTest.testMultipleConsumersMixedTopicSubscriptions."""
    got = sticky({"topic1": 3, "topic2": 2}, [S("consumer1", ("topic1",)),
                                             S("consumer2", ("topic1", "topic2")),
                                             S("consumer3", ("topic1",))])
    assert got == {"consumer1": tps("topic1-0 topic1-2"), "consumer2": tps("topic2-0 topic2-1"),
                   "consumer3": tps("topic1-1")}


def test_rack_aware_non_equal_subscription_non_rack_expectation():
    """AbstractStickyAssignorTest.testRackAwareAssignmentWithNonEqualSubscription, the
    nonRackAwareAssignment: consumer2 subscribes t1 and t3 only."""
    allt = ("t1", "t2", "t3")
    ppt = {"t1": 6, "t2": 7, "t3": 2}
    expected = {"consumer0": tps("t1-5 t2-0 t2-2 t2-4 t2-6"),
                "consumer1": tps("t1-3 t2-1 t2-3 t2-5 t3-0"),
                "consumer2": tps("t1-0 t1-1 t1-2 t1-4 t3-1")}
    topics = {"consumer0": allt, "consumer1": allt, "consumer2": ("t1", "t3")}
    assert sticky(ppt, [S(m, t) for m, t in topics.items()]) == expected
    assert sticky(ppt, [S(m, t, tuple(expected[m]), 1) for m, t in topics.items()]) == expected


def test_subscription_change_revokes_topic_and_rebalances():
    """Spec case sticky_subscription_change_revokes_topic: m1 drops topic b; balance moves
    a-1 from m2 to m1 (sizes 2/2, not 1/3)."""
    subs = [S("m1", ("a",), own("a-0 b-0"), 1), S("m2", ("a", "b"), own("a-1 b-1"), 1)]
    assert sticky({"a": 2, "b": 2}, subs) == {"m1": tps("a-0 a-1"), "m2": tps("b-0 b-1")}


def test_poor_round_robin_assignment_scenario():
    """AbstractStickyAssignorTest.testPoorRoundRobinAssignmentScenario: valid and balanced."""
    ppt = {f"topic{i}": i % 2 + 1 for i in range(1, 6)}
    five = tuple(ppt)
    odd = ("topic1", "topic3", "topic5")
    got = sticky(ppt, [S("consumer1", five), S("consumer2", odd), S("consumer3", odd),
                       S("consumer4", five)])
    assert sorted(len(v) for v in got.values()) == [2, 2, 2, 2]


def test_reassignment_after_one_consumer_leaves_is_sticky():
    """AbstractStickyAssignorTest.testReassignmentAfterOneConsumerLeaves (19 topics/consumers)."""
    ppt = {f"t{i:02d}": i for i in range(1, 20)}
    subs = [S(f"c{i:02d}", tuple(f"t{j:02d}" for j in range(1, i + 1))) for i in range(1, 20)]
    first = assign("sticky", ppt, subs)
    later = [s for s in next_round(subs, first) if s.member_id != "c10"]
    result = assign("sticky", ppt, later)
    assert assignment_problems(ppt, later, result) == []
    assert balance_problems(later, result) == []
    assert two_way_moves(later, result) == []


def test_subscription_not_equal_and_same_partition_claimed_in_three_generations():
    """AbstractStickyAssignorTest.testSubscriptionNotEqualAndAssignSamePartitionWith3Generation."""
    ppt = {"topic": 6, "topic1": 1}
    for g1, g2, g3 in ((1, 2, 3), (1, 3, 2), (2, 1, 3), (2, 3, 1), (3, 1, 2), (3, 2, 1)):
        subs = [S("consumer1", ("topic",), own("topic-0 topic-2"), g1),
                S("consumer2", ("topic",), own("topic-1 topic-2 topic-3"), g2),
                S("consumer3", ("topic",), own("topic-2 topic-4 topic-5"), g3),
                S("consumer4", ("topic1",), own("topic1-0"), 2)]
        got = sticky(ppt, subs)
        assert all(1 <= len(v) <= 2 for v in got.values())


def test_assignment_with_multiple_generations():
    """StickyAssignorTest.testAssignmentWithMultipleGenerations1, both subscription variants."""
    for equal in (True, False):
        allt = ("topic", "topic2")
        c2_topics = allt if equal else ("topic",)
        ppt = {"topic": 6, "topic2": 6}
        r1 = sticky(ppt, [S("consumer1", allt), S("consumer2", c2_topics), S("consumer3", allt)])
        assert sorted(map(len, r1.values())) == [4, 4, 4]
        r2 = sticky(ppt, [S("consumer1", allt, tuple(r1["consumer1"]), 1),
                          S("consumer2", c2_topics, tuple(r1["consumer2"]), 1)])
        assert sorted(map(len, r2.values())) == [6, 6]
        assert set(r1["consumer2"]) <= set(r2["consumer2"])
        if equal:
            assert set(r1["consumer1"]) <= set(r2["consumer1"])
        assert set(r2["consumer2"]) & set(r1["consumer3"])
        r3 = sticky(ppt, [S("consumer2", c2_topics, tuple(r2["consumer2"]), 2),
                          S("consumer3", allt, tuple(r1["consumer3"]), 1)])
        assert sorted(map(len, r3.values())) == [6, 6]


def test_assignment_with_conflicting_previous_generations():
    """StickyAssignorTest.testAssignmentWithConflictingPreviousGenerations, both variants."""
    allt = ("topic", "topic2", "topic3")
    ppt = {t: 4 for t in allt}
    for equal in (True, False):
        c1 = own("topic-0 topic-1 topic-2 topic2-2 topic2-3 topic3-0") if equal else own(
            "topic-0 topic-1 topic-2 topic-3")
        c2 = own("topic-0 topic-1 topic2-0 topic2-1 topic2-2 topic2-3")
        c3 = own("topic-2 topic-3 topic3-0 topic3-1 topic3-2 topic3-3")
        subs = [S("consumer1", allt if equal else ("topic",), c1, 1),
                S("consumer2", allt if equal else ("topic", "topic2"), c2, 2),
                S("consumer3", allt, c3, 2)]
        got = sticky(ppt, subs)
        assert sorted(map(len, got.values())) == [4, 4, 4]
        assert set(got["consumer2"]) <= set(c2) and set(got["consumer3"]) <= set(c3)
        assert is_fully_balanced(assign("sticky", ppt, subs))
