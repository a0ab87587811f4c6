"""The group state machine, as Kafka's state table: an illegal move raises.

Kafka: ``kafka.coordinator.group.GroupState`` (classic groups) and its ``validPreviousStates``.
"""

from __future__ import annotations

from enum import Enum


class GroupState(Enum):
    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


#: state -> the states it may be entered from (Kafka's validPreviousStates).
VALID_PREVIOUS: dict[GroupState, frozenset[GroupState]] = {
    GroupState.PREPARING_REBALANCE: frozenset(
        {GroupState.STABLE, GroupState.COMPLETING_REBALANCE, GroupState.EMPTY}),
    GroupState.COMPLETING_REBALANCE: frozenset({GroupState.PREPARING_REBALANCE}),
    GroupState.STABLE: frozenset({GroupState.COMPLETING_REBALANCE}),
    GroupState.EMPTY: frozenset({GroupState.PREPARING_REBALANCE}),
    GroupState.DEAD: frozenset(
        {GroupState.STABLE, GroupState.PREPARING_REBALANCE, GroupState.COMPLETING_REBALANCE,
         GroupState.EMPTY, GroupState.DEAD}),
}


class IllegalStateTransition(RuntimeError):
    """A transition Kafka's coordinator would never make (a kafkasim bug)."""


def check_transition(old: GroupState, new: GroupState) -> None:
    if old not in VALID_PREVIOUS[new]:
        raise IllegalStateTransition(f"group state {old.value} -> {new.value} is not allowed")
