"""RangeAssignor: pinned examples from Kafka's RangeAssignorTest and the spec, plus properties."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from kafkasim.group.assignors import Subscription, assign, assignment_problems
from kafkasim.records import TopicPartition
from kafkasim.testing.strategies import assignment_inputs

S = Subscription


def tps(spec: str) -> list[TopicPartition]:
    """``"t1-0 t1-2"`` -> sorted TopicPartitions."""
    out = []
    for item in spec.split():
        t, p = item.rsplit("-", 1)
        out.append(TopicPartition(t, int(p)))
    return sorted(out)


def run(ppt, subs):
    return assign("range", ppt, subs).assignment


def test_two_members_two_topics_three_partitions():
    """RangeAssignorTest.testTwoConsumersTwoTopicsSixPartitions / the semantics note."""
    got = run({"t0": 3, "t1": 3}, [S("C1", ("t0", "t1")), S("C0", ("t0", "t1"))])
    assert got == {"C0": tps("t0-0 t0-1 t1-0 t1-1"), "C1": tps("t0-2 t1-2")}


def test_static_member_range_assignment_persistent():
    """RangeAssignorTest.testStaticMemberRangeAssignmentPersistent."""
    ppt = {"topic1": 5, "topic2": 4}
    static = [S(f"consumer{i}", ("topic1", "topic2"), group_instance_id=f"instance{i}")
              for i in (1, 2, 3)]
    expected = {"consumer1": tps("topic1-0 topic1-1 topic2-0"),
                "consumer2": tps("topic1-2 topic2-1"), "consumer3": tps("topic1-3 topic2-2"),
                "consumer4": tps("topic1-4 topic2-3")}
    assert run(ppt, [*static, S("consumer4", ("topic1", "topic2"))]) == expected
    # dynamic consumer4 replaced by consumer5: the static members keep their ranges
    expected["consumer5"] = expected.pop("consumer4")
    assert run(ppt, [*static, S("consumer5", ("topic1", "topic2"))]) == expected


def test_static_member_range_assignment_persistent_after_member_id_changes():
    """RangeAssignorTest.testStaticMemberRangeAssignmentPersistentAfterMemberIdChanges."""
    ppt = {"topic1": 5, "topic2": 5}
    expected = {"instance1": tps("topic1-0 topic1-1 topic2-0 topic2-1"),
                "instance2": tps("topic1-2 topic1-3 topic2-2 topic2-3"),
                "instance3": tps("topic1-4 topic2-4")}
    for ids in (("consumer1", "consumer2", "consumer3"), ("consumer9", "consumer5", "consumer4")):
        subs = [S(m, ("topic1", "topic2"), group_instance_id=f"instance{i}")
                for i, m in enumerate(ids, 1)]
        got = run(ppt, subs)
        assert {f"instance{i}": got[m] for i, m in enumerate(ids, 1)} == expected


def test_static_members_sort_by_instance_id_and_before_dynamic_ones():
    """RangeAssignorTest/RoundRobinAssignorTest: consumer-b/instance1 before consumer-a."""
    got = run({"t": 3}, [S("consumer-a", ("t",), group_instance_id="instance2"),
                         S("consumer-b", ("t",), group_instance_id="instance1")])
    assert got == {"consumer-b": tps("t-0 t-1"), "consumer-a": tps("t-2")}
    got = run({"t": 3}, [S("consumer-a", ("t",)), S("consumer-b", ("t",),
                                                     group_instance_id="instance1")])
    assert got == {"consumer-b": tps("t-0 t-1"), "consumer-a": tps("t-2")}


def test_per_topic_remainders_accumulate():
    """Spec case range_per_topic_remainders_accumulate: 3 topics x 4 partitions, 3 members."""
    topics = ("a", "b", "c")
    got = run({t: 4 for t in topics}, [S(m, topics) for m in ("m1", "m2", "m3")])
    assert [len(got[m]) for m in ("m1", "m2", "m3")] == [6, 3, 3]
    assert got["m1"] == tps("a-0 a-1 b-0 b-1 c-0 c-1")


def test_multiple_consumers_mixed_topics():
    """RangeAssignorTest.testMultipleConsumersMixedTopics: a topic is split among its own
    subscribers only."""
    got = run({"topic1": 3, "topic2": 2}, [S("consumer1", ("topic1",)),
                                          S("consumer2", ("topic1", "topic2")),
                                          S("consumer3", ("topic1",))])
    assert got == {"consumer1": tps("topic1-0"), "consumer2": tps("topic1-1 topic2-0 topic2-1"),
                   "consumer3": tps("topic1-2")}


def test_more_members_than_partitions_and_missing_topics():
    """RangeAssignorTest.testOneConsumerNonexistentTopic / more consumers than partitions."""
    got = run({"t": 2, "empty": 0}, [S(f"c{i}", ("t", "missing", "empty")) for i in range(4)])
    assert got == {"c0": tps("t-0"), "c1": tps("t-1"), "c2": [], "c3": []}
    assert run({}, [S("c", ("nothing",))]) == {"c": []}


def test_ownership_is_ignored():
    owned = (TopicPartition("t", 2),)
    got = run({"t": 3}, [S("a", ("t",)), S("b", ("t",), owned, 7)])
    assert got == {"a": tps("t-0 t-1"), "b": tps("t-2")}
    assert run({"t": 3}, [S("a", ("t",), owned, 7), S("b", ("t",))])["a"] == tps("t-0 t-1")


@settings(max_examples=150, deadline=None)
@given(assignment_inputs(static_members=True, max_members=6), st.randoms())
def test_properties(inp, rnd: random.Random):
    """Valid and complete; independent of input order; contiguous per-topic ranges."""
    result = assign("range", *inp)
    assert assignment_problems(*inp, result) == []
    shuffled = list(inp.subscriptions)
    rnd.shuffle(shuffled)
    assert assign("range", inp.partitions_per_topic, shuffled).assignment == result.assignment
    for m, lst in result.assignment.items():
        for t in {tp.topic for tp in lst}:
            ps = [tp.partition for tp in lst if tp.topic == t]
            assert ps == list(range(ps[0], ps[0] + len(ps))), (m, t)
    for t, n in inp.partitions_per_topic.items():
        sizes = [sum(tp.topic == t for tp in result.assignment[s.member_id])
                 for s in inp.subscriptions if t in s.topics]
        if sizes and n:
            assert max(sizes) - min(sizes) <= 1
