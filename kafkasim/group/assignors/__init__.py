"""Kafka's four consumer partition assignors as pure, deterministic functions.

``range``, ``roundrobin``, ``sticky`` and ``cooperative-sticky``: given the partition count
of each topic and every member's :class:`Subscription`, return a :class:`GroupAssignment`
with every member present and each list sorted. Output never depends on the order of the
input list. Pick one by Kafka name, Java class name or ``module:Class`` via
:func:`get_assignor`.

Kafka: ``org.apache.kafka.clients.consumer.{Range,RoundRobin,Sticky,CooperativeSticky}Assignor``.
"""

from kafkasim.group.assignors.base import (
    BUILTIN_NAMES,
    JAVA_CLASS_NAMES,
    Assignor,
    GroupAssignment,
    InconsistentGroupProtocolError,
    InvalidAssignmentError,
    RebalanceProtocol,
    Subscription,
    assign,
    get_assignor,
    lookup_assignor,
    protocol_names,
    rebalance_protocol,
    select_assignor,
)
from kafkasim.group.assignors.checks import (
    assignment_problems,
    balance_problems,
    is_fully_balanced,
    revoked_and_added,
    two_way_moves,
)
from kafkasim.group.assignors.cooperative import CooperativeStickyAssignor
from kafkasim.group.assignors.range import RangeAssignor
from kafkasim.group.assignors.roundrobin import RoundRobinAssignor
from kafkasim.group.assignors.sticky import StickyAssignor

__all__ = [
    "BUILTIN_NAMES",
    "JAVA_CLASS_NAMES",
    "Assignor",
    "CooperativeStickyAssignor",
    "GroupAssignment",
    "InconsistentGroupProtocolError",
    "InvalidAssignmentError",
    "RangeAssignor",
    "RebalanceProtocol",
    "RoundRobinAssignor",
    "StickyAssignor",
    "Subscription",
    "assign",
    "assignment_problems",
    "balance_problems",
    "get_assignor",
    "is_fully_balanced",
    "lookup_assignor",
    "protocol_names",
    "rebalance_protocol",
    "revoked_and_added",
    "select_assignor",
    "two_way_moves",
]
