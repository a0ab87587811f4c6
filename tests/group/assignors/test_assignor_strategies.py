"""kafkasim.testing.strategies yields what its docstrings promise."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from kafkasim.group.assignors import GroupAssignment, Subscription
from kafkasim.records import TopicPartition
from kafkasim.testing import next_round
from kafkasim.testing.strategies import (
    AssignmentInput,
    assignment_inputs,
    member_ids,
    partitions_per_topic,
    subscriptions,
    topic_names,
)

FAST = settings(max_examples=60, deadline=None)


@FAST
@given(topic_names())
def test_topic_names_are_kafka_legal(name):
    assert re.fullmatch(r"[a-zA-Z0-9._-]{1,249}", name)


@FAST
@given(member_ids())
def test_member_ids_non_empty(m):
    assert m


@FAST
@given(partitions_per_topic(min_topics=2, max_topics=3, max_partitions=4))
def test_partitions_per_topic_bounds(ppt):
    assert 2 <= len(ppt) <= 3 and all(0 <= n <= 4 for n in ppt.values())


@FAST
@given(assignment_inputs(identical=True, static_members=True, max_members=4))
def test_identical_and_static(inp):
    assert isinstance(inp, AssignmentInput)
    ppt, subs = inp
    assert 1 <= len(subs) <= 4
    assert len({frozenset(s.topics) for s in subs}) == 1
    ids = [s.member_id for s in subs]
    instances = [s.group_instance_id for s in subs if s.group_instance_id is not None]
    assert len(set(ids)) == len(ids) and len(set(instances)) == len(instances)


@FAST
@given(assignment_inputs(owned="none"))
def test_owned_none(inp):
    assert all(not s.owned and s.generation == -1 for s in inp.subscriptions)


@FAST
@given(assignment_inputs(owned="realistic"))
def test_owned_realistic_is_a_previous_assignment(inp):
    """Each existing partition has at most one claimant; claimants share one generation."""
    ppt, subs = inp
    claims = Counter(tp for s in subs for tp in s.owned if tp.topic in ppt)
    assert all(n == 1 for n in claims.values())
    assert all(tp.partition < ppt[tp.topic] for tp in claims)
    assert len({s.generation for s in subs if s.owned}) <= 1
    assert all(s.generation == -1 for s in subs if s.generation < 1)


def test_conflicting_claims_are_generated():
    def conflicted(inp: AssignmentInput) -> bool:
        claims = Counter(tp for s in inp.subscriptions for tp in set(s.owned)
                         if tp.topic in inp.partitions_per_topic)
        return any(n > 1 for n in claims.values())

    find(assignment_inputs(owned="conflicting"), conflicted, settings=settings(database=None))


def test_static_members_and_missing_topics_are_generated():
    find(assignment_inputs(static_members=True),
         lambda i: any(s.group_instance_id for s in i.subscriptions)
         and any(t not in i.partitions_per_topic for s in i.subscriptions for t in s.topics),
         settings=settings(database=None))


@FAST
@given(st.data())
def test_subscriptions_for_fixed_topics(data):
    ppt = {"a": 2, "b": 0}
    subs = data.draw(subscriptions(ppt, min_members=2, max_members=3, missing_topics=False))
    assert 2 <= len(subs) <= 3
    assert all(set(s.topics) <= {"a", "b"} for s in subs)
    assert all(isinstance(s, Subscription) for s in subs)


def test_unknown_ownership_mode():
    with pytest.raises(ValueError, match="owned must be one of"):
        find(assignment_inputs(owned="nope"), lambda _: True)


def test_next_round():
    subs = [Subscription("a", ("t",), (), 3), Subscription("b", ("t",), (TopicPartition("t", 0),),
                                                             -1, "i")]
    nxt = next_round(subs, GroupAssignment({"a": [TopicPartition("t", 0)], "b": []}))
    assert nxt == [Subscription("a", ("t",), (TopicPartition("t", 0),), 4),
                   Subscription("b", ("t",), (), 4, "i")]
