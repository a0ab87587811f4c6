"""Sticky assignors: Hypothesis properties (validity, order independence, both balance
definitions, the constrained path's exact stickiness bound, no two-way moves)."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from kafkasim.testing.strategies import assignment_inputs

STICKY = ("sticky", "cooperative-sticky")
FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def shuffled(subs: list[Subscription], rnd: random.Random) -> list[Subscription]:
    """Same group, listed in another order (members, topics and owned partitions)."""
    out = [Subscription(s.member_id, tuple(rnd.sample(s.topics, len(s.topics))),
                        tuple(rnd.sample(s.owned, len(s.owned))), s.generation,
                        s.group_instance_id) for s in subs]
    rnd.shuffle(out)
    return out


def resolved_claims(ppt, subs) -> tuple[dict[str, set[TopicPartition]], set[TopicPartition]]:
    """Reference model of spec 5.3 (sorted member ids): claims each member still holds, and
    the multiply-claimed partitions."""
    holder: dict[TopicPartition, str | None] = {}
    last: dict[TopicPartition, Subscription] = {}
    multi: set[TopicPartition] = set()
    for s in sorted(subs, key=lambda s: s.member_id):
        for tp in dict.fromkeys(TopicPartition(t, p) for t, p in s.owned):
            if not (any(tp.topic in x.topics for x in subs)
                    and 0 <= tp.partition < ppt.get(tp.topic, 0)):
                continue
            if tp not in last:
                holder[tp] = s.member_id
                last[tp] = s
            elif s.generation == last[tp].generation:
                multi.add(tp)
                holder[tp], last[tp] = None, s
            elif s.generation > last[tp].generation:
                holder[tp], last[tp] = s.member_id, s
    held: dict[str, set[TopicPartition]] = {s.member_id: set() for s in subs}
    for tp, m in holder.items():
        if m is not None:
            held[m].add(tp)
    return held, multi


@pytest.mark.parametrize("strategy", STICKY)
@FAST
@given(inp=assignment_inputs(max_members=6, max_partitions=8), rnd=st.randoms())
def test_valid_complete_and_independent_of_listing_order(strategy, inp, rnd):
    result = assign(strategy, *inp)
    assert assignment_problems(*inp, result) == []
    again = assign(strategy, inp.partitions_per_topic, shuffled(inp.subscriptions, rnd))
    assert again.assignment == result.assignment
    assert again.transferring == result.transferring


@FAST
@given(assignment_inputs(max_members=6, max_partitions=8, owned="random"))
def test_arbitrary_claims_still_give_a_valid_balanced_assignment(inp):
    """Junk claims (unknown topics, out-of-range partitions, duplicates) are dropped."""
    result = assign("sticky", *inp)
    assert assignment_problems(*inp, result) == []
    assert balance_problems(inp.subscriptions, result) == []


@FAST
@given(assignment_inputs(identical=True, max_members=7, max_partitions=8))
def test_identical_subscriptions_fully_balanced_with_exact_stickiness(inp):
    """Constrained path (spec 5.5): max - min <= 1; every member keeps min(owned, minQuota) of
    its valid claims, and exactly sum(min(owned, minQuota)) + min(E, #owning >= maxQuota)
    claims are kept in total, the fewest moves balance allows."""
    ppt, subs = inp
    result = assign("sticky", ppt, subs)
    assert is_fully_balanced(result)
    held, multi = resolved_claims(ppt, subs)
    total = sum(n for t, n in ppt.items() if t in subs[0].topics)
    min_q, extra = divmod(total, len(subs))
    max_q = min_q + (1 if extra else 0)
    kept = 0
    for s in subs:
        valid = held[s.member_id] - multi
        mine = valid & set(result.assignment[s.member_id])
        assert len(mine) >= min(len(valid), min_q)
        kept += len(mine)
    owning_max = sum(len(held[s.member_id] - multi) >= max_q for s in subs)
    bound = sum(min(len(held[s.member_id] - multi), min_q) for s in subs)
    assert kept == bound + (min(extra, owning_max) if extra else 0)


@FAST
@given(assignment_inputs(identical=True, owned="none", max_members=7, max_partitions=8))
def test_fresh_constrained_is_round_robin_over_sorted_members(inp):
    """Spec 5.5: with nothing owned, the constrained path deals like roundrobin (dynamic ids)."""
    assert assign("sticky", *inp).assignment == assign("roundrobin", *inp).assignment


@FAST
@given(assignment_inputs(identical=False, max_members=7, max_partitions=8, max_topics=5))
def test_general_path_kafka_balance(inp):
    """Kafka's balance: a member with >= 2 more partitions than another holds none of a
    topic the other subscribes to (isBalanced), hence none the other is assigned
    (verifyValidityAndBalance)."""
    result = assign("sticky", *inp)
    assert balance_problems(inp.subscriptions, result, by="subscription") == []
    assert balance_problems(inp.subscriptions, result, by="assignment") == []


@FAST
@given(assignment_inputs(max_members=7, max_partitions=8, max_topics=5, owned="realistic"))
def test_no_two_way_moves_and_stable_when_nothing_changes(inp):
    """PartitionMovements.isSticky: no topic moves both ways between two members. And no
    partition leaves a still-subscribed owner unless balance needs it: once the claims are a
    complete, valid, balanced assignment, re-running changes nothing."""
    result = assign("sticky", *inp)
    assert two_way_moves(inp.subscriptions, result) == []
    again = assign("sticky", inp.partitions_per_topic, next_round(inp.subscriptions, result))
    assert again.assignment == result.assignment


def test_members_without_topics_get_nothing_and_are_present():
    subs = [Subscription("idle", ()), Subscription("busy", ("t",)),
            Subscription("lost", ("missing",))]
    for strategy in STICKY:
        result = assign(strategy, {"t": 3}, subs)
        assert result.assignment == {"busy": [TopicPartition("t", p) for p in range(3)],
                                     "idle": [], "lost": []}
