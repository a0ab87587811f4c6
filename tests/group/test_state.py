"""The classic group state table (kafka-semantics §11).

Expected values are Kafka's own table, ``GroupState.validPreviousStates`` in
``kafka.coordinator.group.GroupMetadata`` (classic groups; the same table as
``ClassicGroupState`` in the Java group coordinator), written out here independently of
kafkasim's ``VALID_PREVIOUS``:

    Dead                <- Stable, PreparingRebalance, CompletingRebalance, Empty, Dead
    CompletingRebalance <- PreparingRebalance
    Stable              <- CompletingRebalance
    PreparingRebalance  <- Stable, CompletingRebalance, Empty
    Empty               <- PreparingRebalance
"""

from __future__ import annotations

import itertools

import pytest

from kafkasim.group.state import GroupState, IllegalStateTransition, check_transition

E, PR, CR, ST, D = ("Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead")

#: Kafka's validPreviousStates, by state name: new state -> states it may be entered from.
KAFKA_VALID_PREVIOUS: dict[str, set[str]] = {
    D: {ST, PR, CR, E, D},
    CR: {PR},
    ST: {CR},
    PR: {ST, CR, E},
    E: {PR},
}

ALL = [E, PR, CR, ST, D]
ALLOWED = sorted((old, new) for new, olds in KAFKA_VALID_PREVIOUS.items() for old in olds)
FORBIDDEN = sorted((old, new) for old, new in itertools.product(ALL, ALL) if (old, new) not in ALLOWED)


def state(name: str) -> GroupState:
    return GroupState(name)


def test_state_names_are_kafkas() -> None:
    """The five classic states, with the names Kafka logs and DescribeGroups returns."""
    assert sorted(s.value for s in GroupState) == sorted(ALL)


def test_table_covers_every_pair() -> None:
    assert len(ALLOWED) + len(FORBIDDEN) == 25
    assert len(ALLOWED) == 11


@pytest.mark.parametrize(("old", "new"), ALLOWED, ids=[f"{o}->{n}" for o, n in ALLOWED])
def test_allowed_transition_passes(old: str, new: str) -> None:
    check_transition(state(old), state(new))  # must not raise


@pytest.mark.parametrize(("old", "new"), FORBIDDEN, ids=[f"{o}->{n}" for o, n in FORBIDDEN])
def test_illegal_transition_raises(old: str, new: str) -> None:
    with pytest.raises(IllegalStateTransition):
        check_transition(state(old), state(new))


def test_illegal_transition_names_both_states() -> None:
    with pytest.raises(IllegalStateTransition, match="Empty.*Stable"):
        check_transition(GroupState.EMPTY, GroupState.STABLE)


@pytest.mark.parametrize("s", ALL)
def test_no_state_except_dead_may_be_reentered(s: str) -> None:
    """A rebalance always moves the state on: only Dead -> Dead is a self-loop in Kafka's table."""
    if s == D:
        check_transition(state(s), state(s))
    else:
        with pytest.raises(IllegalStateTransition):
            check_transition(state(s), state(s))


def test_rebalance_cycle_is_the_only_way_to_stable() -> None:
    """Empty -> PreparingRebalance -> CompletingRebalance -> Stable -> PreparingRebalance ... -> Empty."""
    path = [E, PR, CR, ST, PR, CR, PR, E, PR, CR, ST, D]
    for old, new in itertools.pairwise(path):
        check_transition(state(old), state(new))
    for shortcut in ((E, CR), (E, ST), (PR, ST), (ST, CR), (ST, E), (CR, E), (D, E), (D, PR)):
        with pytest.raises(IllegalStateTransition):
            check_transition(state(shortcut[0]), state(shortcut[1]))
