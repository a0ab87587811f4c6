"""RoundRobinAssignor: pinned examples from Kafka's RoundRobinAssignorTest / javadoc, properties."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from kafkasim.group.assignors import Subscription, assign, assignment_problems, is_fully_balanced
from kafkasim.records import TopicPartition
from kafkasim.testing.strategies import assignment_inputs

S = Subscription


def tps(spec: str) -> list[TopicPartition]:
    out = []
    for item in spec.split():
        t, p = item.rsplit("-", 1)
        out.append(TopicPartition(t, int(p)))
    return sorted(out)


def run(ppt, subs):
    return assign("roundrobin", ppt, subs).assignment


def test_javadoc_example():
    """RoundRobinAssignor javadoc: C0 t0; C1 t0,t1; C2 t0,t1,t2 with 1, 2, 3 partitions."""
    got = run({"t0": 1, "t1": 2, "t2": 3},
              [S("C2", ("t0", "t1", "t2")), S("C0", ("t0",)), S("C1", ("t0", "t1"))])
    assert got == {"C0": tps("t0-0"), "C1": tps("t1-0"), "C2": tps("t1-1 t2-0 t2-1 t2-2")}


def test_cursor_carries_across_topics():
    """Spec case rr_cursor_carries_across_topics: the cursor is not reset per topic."""
    got = run({"t0": 1, "t1": 2}, [S("A", ("t0", "t1")), S("B", ("t1",))])
    # t0-0 -> A (cursor now at B); t1-0 -> B; t1-1 -> A. A per-topic reset would give B t1-1.
    assert got == {"A": tps("t0-0 t1-1"), "B": tps("t1-0")}


def test_multiple_consumers_mixed_topics():
    """RoundRobinAssignorTest.testMultipleConsumersMixedTopics."""
    got = run({"topic1": 3, "topic2": 2}, [S("consumer1", ("topic1",)),
                                          S("consumer2", ("topic1", "topic2")),
                                          S("consumer3", ("topic1",))])
    assert got == {"consumer1": tps("topic1-0"), "consumer2": tps("topic1-1 topic2-0 topic2-1"),
                   "consumer3": tps("topic1-2")}


def test_two_consumers_two_topics_six_partitions_dynamic_and_static():
    """RoundRobinAssignorTest.testTwo{Dynamic,Static}ConsumersTwoTopicsSixPartitions and
    testOneStaticConsumerAndOneDynamicConsumerTwoTopicsSixPartitions."""
    ppt = {"topic1": 3, "topic2": 3}
    both = ("topic1", "topic2")
    first, second = tps("topic1-0 topic1-2 topic2-1"), tps("topic1-1 topic2-0 topic2-2")
    assert run(ppt, [S("consumer1", both), S("consumer2", both)]) == {
        "consumer1": first, "consumer2": second}
    assert run(ppt, [S("consumer-b", both, group_instance_id="instance1"),
                     S("consumer-a", both, group_instance_id="instance2")]) == {
        "consumer-b": first, "consumer-a": second}
    assert run(ppt, [S("consumer-b", both, group_instance_id="instance1"),
                     S("consumer-a", both)]) == {"consumer-b": first, "consumer-a": second}


def test_static_member_round_robin_assignment_persistent():
    """RoundRobinAssignorTest.testStaticMemberRoundRobinAssignmentPersistent."""
    both = ("topic1", "topic2")
    static = [S(f"consumer{i}", both, group_instance_id=f"instance{i}") for i in (1, 2, 3)]
    expected = {"consumer1": tps("topic1-0 topic2-1"), "consumer2": tps("topic1-1 topic2-2"),
                "consumer3": tps("topic1-2"), "consumer4": tps("topic2-0")}
    ppt = {"topic1": 3, "topic2": 3}
    assert run(ppt, [*static, S("consumer4", both)]) == expected
    expected["consumer5"] = expected.pop("consumer4")
    assert run(ppt, [*static, S("consumer5", both)]) == expected


def test_static_member_round_robin_assignment_persistent_after_member_id_changes():
    """RoundRobinAssignorTest.testStaticMemberRoundRobinAssignmentPersistentAfterMemberIdChanges."""
    expected = {"instance1": tps("topic1-0 topic1-3 topic2-1 topic2-4"),
                "instance2": tps("topic1-1 topic1-4 topic2-2"),
                "instance3": tps("topic1-2 topic2-0 topic2-3")}
    for ids in (("consumer1", "consumer2", "consumer3"), ("consumer1", "consumer5", "consumer4")):
        subs = [S(m, ("topic1", "topic2"), group_instance_id=f"instance{i}")
                for i, m in enumerate(ids, 1)]
        got = run({"topic1": 5, "topic2": 5}, subs)
        assert {f"instance{i}": got[m] for i, m in enumerate(ids, 1)} == expected


def test_java_string_order_and_missing_topics():
    """Topics in Java String order ('T1' < 't10' < 't2'); unknown topics ignored."""
    got = run({"t2": 1, "t10": 1, "T1": 1, "gone": 0}, [S("b", ("t2", "t10", "T1", "nope")),
                                                       S("a", ("t2", "t10", "T1"))])
    assert got == {"a": tps("T1-0 t2-0"), "b": tps("t10-0")}


@settings(max_examples=150, deadline=None)
@given(assignment_inputs(static_members=True, max_members=6), st.randoms())
def test_properties(inp, rnd: random.Random):
    """Valid, complete, independent of input order; balanced with identical subscriptions."""
    result = assign("roundrobin", *inp)
    assert assignment_problems(*inp, result) == []
    shuffled = list(inp.subscriptions)
    rnd.shuffle(shuffled)
    assert assign("roundrobin", inp.partitions_per_topic, shuffled).assignment == result.assignment
    if len({frozenset(s.topics) for s in inp.subscriptions}) == 1:
        assert is_fully_balanced(result)
