"""Data types, the assignor registry, and rebalance-protocol / assignor selection.

Kafka: ``ConsumerPartitionAssignor`` (``Subscription``, ``GroupAssignment``,
``RebalanceProtocol``), ``ConsumerCoordinator`` (protocol choice, validation of custom
cooperative assignors) and the broker's ``GenericGroup.selectProtocol`` (assignor vote).
Simplified: no ``userData`` bytes and no racks; the sticky assignors read ``owned`` and
``generation`` directly, as CooperativeStickyAssignor does from ``ownedPartitions``.
"""

from __future__ import annotations

import difflib
import importlib
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Protocol, runtime_checkable

from kafkasim.errors import ConfigError, KafkaError, KafkasimError
from kafkasim.records import TopicPartition

__all__ = [
    "BUILTIN_NAMES",
    "JAVA_CLASS_NAMES",
    "Assignor",
    "GroupAssignment",
    "InconsistentGroupProtocolError",
    "InvalidAssignmentError",
    "RebalanceProtocol",
    "Subscription",
    "assign",
    "get_assignor",
    "lookup_assignor",
    "protocol_names",
    "rebalance_protocol",
    "select_assignor",
]

STRATEGY_PATH = "partition.assignment.strategy"


class RebalanceProtocol(IntEnum):
    """How members give up partitions during a rebalance; a higher value is preferred.

    Kafka: ``ConsumerPartitionAssignor.RebalanceProtocol`` (KIP-429).
    """

    EAGER = 0
    COOPERATIVE = 1


@dataclass(frozen=True)
class Subscription:
    """What the group leader receives for one member.

    ``owned`` is the member's current assignment (CooperativeSticky's ``ownedPartitions``;
    for the eager sticky assignor it stands for the ``userData`` it wrote). A generation of
    -1 means "none" (``DEFAULT_GENERATION``).
    Kafka: ``ConsumerPartitionAssignor.Subscription``.
    """

    member_id: str
    topics: tuple[str, ...]
    owned: tuple[TopicPartition, ...] = ()
    generation: int = -1
    group_instance_id: str | None = None

    def __post_init__(self) -> None:
        where = f"subscriptions[{self.member_id!r}]"
        if not isinstance(self.member_id, str):
            raise ConfigError(where, f"member_id must be a string, got {self.member_id!r}")
        if isinstance(self.topics, str):
            raise ConfigError(f"{where}.topics", "expected a sequence of topic names, got a string")
        if not isinstance(self.topics, tuple):
            object.__setattr__(self, "topics", tuple(self.topics))
        if not isinstance(self.owned, tuple):
            object.__setattr__(self, "owned", tuple(TopicPartition(t, p) for t, p in self.owned))
        if isinstance(self.generation, bool) or not isinstance(self.generation, int):
            raise ConfigError(f"{where}.generation", f"expected an integer, got {self.generation!r}")


@dataclass(frozen=True)
class GroupAssignment:
    """An assignor's answer: every member (even empty) with its sorted partitions.

    ``transferring``: partitions withheld this round by a cooperative assignor (their old
    owner must revoke them first). ``explanation``: human lines for ``--explain``.
    Kafka: ``ConsumerPartitionAssignor.GroupAssignment``.
    """

    assignment: dict[str, list[TopicPartition]]
    transferring: frozenset[TopicPartition] = frozenset()
    explanation: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, list[list[Any]]]:
        """``{member_id: [[topic, partition], ...]}`` in member-id order."""
        return {m: [[tp[0], tp[1]] for tp in self.assignment[m]] for m in sorted(self.assignment)}


@runtime_checkable
class Assignor(Protocol):
    """A client-side partition assignor (the group leader runs it).

    Kafka: ``ConsumerPartitionAssignor``.
    """

    name: str
    supported_protocols: tuple[RebalanceProtocol, ...]

    def assign(self, partitions_per_topic: Mapping[str, int],
               subscriptions: Sequence[Subscription]) -> GroupAssignment: ...


class InvalidAssignmentError(KafkasimError):
    """A (custom) assignor returned an assignment the leader must reject.

    Kafka: ``ConsumerCoordinator.validateCooperativeAssignment`` (IllegalStateException).
    """


class InconsistentGroupProtocolError(ConfigError):
    """The members of a classic group share no assignor name.

    Kafka: error ``INCONSISTENT_GROUP_PROTOCOL`` (23) from JoinGroup.
    """

    error = KafkaError.INCONSISTENT_GROUP_PROTOCOL


# --- registry ---------------------------------------------------------------------------------

#: Kafka protocol name -> (module, class) of kafkasim's implementation.
_BUILTINS: dict[str, tuple[str, str]] = {
    "range": ("kafkasim.group.assignors.range", "RangeAssignor"),
    "roundrobin": ("kafkasim.group.assignors.roundrobin", "RoundRobinAssignor"),
    "sticky": ("kafkasim.group.assignors.sticky", "StickyAssignor"),
    "cooperative-sticky": ("kafkasim.group.assignors.cooperative", "CooperativeStickyAssignor"),
}
BUILTIN_NAMES: tuple[str, ...] = tuple(_BUILTINS)

#: The Java class names ``partition.assignment.strategy`` accepts, mapped to protocol names.
JAVA_CLASS_NAMES: dict[str, str] = {
    "org.apache.kafka.clients.consumer.RangeAssignor": "range",
    "org.apache.kafka.clients.consumer.RoundRobinAssignor": "roundrobin",
    "org.apache.kafka.clients.consumer.StickyAssignor": "sticky",
    "org.apache.kafka.clients.consumer.CooperativeStickyAssignor": "cooperative-sticky",
}

_CUSTOM_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def get_assignor(name: str, *, path: str = STRATEGY_PATH) -> Assignor:
    """Return a fresh assignor for a Kafka protocol name, Java class name or ``module:Class``.

    A ``module:Class`` value is the only form that imports anything, and only that module.
    Raises :class:`ConfigError` (at ``path``) naming the value and what was expected.
    """
    if not isinstance(name, str):
        raise ConfigError(path, f"expected an assignor name, got {name!r}")
    proto = JAVA_CLASS_NAMES.get(name, name)
    if proto in _BUILTINS:
        module, cls = _BUILTINS[proto]
        return getattr(importlib.import_module(module), cls)()
    if ":" in name and _CUSTOM_RE.match(name):
        return _load_custom(name, path)
    raise ConfigError(path, _unknown_message(name))


def _unknown_message(name: str) -> str:
    known = [*BUILTIN_NAMES, *JAVA_CLASS_NAMES]
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.strip().lower(), list(lowered), n=1, cutoff=0.6)
    hint = f" (did you mean {lowered[close[0]]!r}?)" if close else ""
    if ":" in name:
        return (f"cannot load assignor {name!r}: expected 'package.module:ClassName' "
                "(dotted Python identifiers)")
    return (f"unknown assignor {name!r}{hint}; expected one of {', '.join(BUILTIN_NAMES)}, "
            "a Java class name such as org.apache.kafka.clients.consumer.RangeAssignor, "
            "or 'module:Class' for your own assignor")


def _load_custom(spec: str, path: str) -> Assignor:
    module_name, _, attr = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or anything the user's module raises on import
        raise ConfigError(path, f"cannot import module {module_name!r} for assignor {spec!r}: "
                          f"{type(exc).__name__}: {exc}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(path, f"module {module_name!r} has no {attr!r} (assignor {spec!r})"
                              ) from None
    if isinstance(obj, type):
        try:
            obj = obj()
        except Exception as exc:  # the user's constructor
            raise ConfigError(path, f"cannot create assignor {spec!r} without arguments: {exc}"
                              ) from None
    name = getattr(obj, "name", None)
    if callable(name):  # Java style name()
        name = name()
    if not isinstance(name, str) or not name:
        raise ConfigError(path, f"assignor {spec!r} has no 'name' string (Kafka's protocol name)")
    if not callable(getattr(obj, "assign", None)):
        raise ConfigError(path, f"assignor {spec!r} has no assign(partitions_per_topic, subscriptions)")
    raw = getattr(obj, "supported_protocols", (RebalanceProtocol.EAGER,))
    if callable(raw):
        raw = raw()
    try:
        protocols = tuple(RebalanceProtocol(p) for p in raw)
    except (TypeError, ValueError):
        raise ConfigError(path, f"assignor {spec!r}: supported_protocols must list "
                          f"RebalanceProtocol values, got {raw!r}") from None
    if not protocols:
        raise ConfigError(path, f"assignor {spec!r}: supported_protocols is empty")
    return _CustomAssignor(obj, name, protocols)


class _CustomAssignor:
    """Wraps a user's assignor: normalises its answer and checks it as Kafka's leader does.

    Kafka: ``ConsumerCoordinator.onLeaderElected`` / ``validateCooperativeAssignment``.
    """

    def __init__(self, inner: Any, name: str, protocols: tuple[RebalanceProtocol, ...]) -> None:
        self.inner, self.name, self.supported_protocols = inner, name, protocols

    def assign(self, partitions_per_topic: Mapping[str, int],
               subscriptions: Sequence[Subscription]) -> GroupAssignment:
        raw = self.inner.assign(partitions_per_topic, subscriptions)
        result = _normalise(raw, subscriptions, self.name)
        if RebalanceProtocol.COOPERATIVE in self.supported_protocols:
            from kafkasim.group.assignors.checks import revoked_and_added

            both = revoked_and_added(subscriptions, result)
            if both:
                shown = " ".join(map(str, sorted(both)[:8]))
                raise InvalidAssignmentError(
                    f"assignor {self.name!r} supports COOPERATIVE but assigned partitions that "
                    f"their owner must revoke first, in the same round: {shown}")
        return result


def _normalise(raw: Any, subscriptions: Sequence[Subscription], name: str) -> GroupAssignment:
    if isinstance(raw, GroupAssignment):
        mapping, transferring, explanation = raw.assignment, raw.transferring, raw.explanation
    elif isinstance(raw, Mapping):
        mapping, transferring, explanation = raw, frozenset(), []
    else:
        raise InvalidAssignmentError(f"assignor {name!r} returned {type(raw).__name__}, "
                                     "expected a GroupAssignment or {member_id: [partitions]}")
    members = {s.member_id for s in subscriptions}
    extra = sorted(set(mapping) - members)
    if extra:
        raise InvalidAssignmentError(f"assignor {name!r} assigned to unknown members {extra}")
    out = {m: sorted(TopicPartition(t, p) for t, p in mapping.get(m, ())) for m in sorted(members)}
    return GroupAssignment(out, frozenset(transferring), list(explanation))


def rebalance_protocol(strategy: Sequence[str] | str, *, path: str = STRATEGY_PATH
                       ) -> RebalanceProtocol:
    """A consumer's protocol: the highest one every configured assignor supports.

    Kafka: ``ConsumerCoordinator`` constructor (EAGER < COOPERATIVE). The default Java list
    ``["range", "cooperative-sticky"]`` gives EAGER. A comma-separated string is accepted.
    """
    names = [s.strip() for s in strategy.split(",")] if isinstance(strategy, str) else list(strategy)
    if not names or any(not n for n in names):
        raise ConfigError(path, "expected a non-empty list of assignor names")
    common = set(RebalanceProtocol)
    for n in names:
        common &= set(get_assignor(n, path=path).supported_protocols)
    if not common:
        raise ConfigError(path, f"assignors {names} have no rebalance protocol in common "
                          "(Kafka: 'do not have commonly supported rebalance protocol')")
    return max(common)


def protocol_names(strategy: Sequence[str] | str, *, path: str = STRATEGY_PATH) -> list[str]:
    """The protocol names a consumer lists in JoinGroup, in preference order (each assignor's
    ``name``; a Java class name or ``module:Class`` becomes the name it declares).

    Kafka: ``ConsumerCoordinator.metadata()`` (one JoinGroup protocol per assignor).
    """
    names = [s.strip() for s in strategy.split(",")] if isinstance(strategy, str) else list(strategy)
    return [get_assignor(n, path=path).name for n in names]


def lookup_assignor(protocol_name: str, strategy: Sequence[str] | str, *,
                    path: str = STRATEGY_PATH) -> Assignor:
    """The leader's assignor for the group's selected protocol name, among its configured ones.

    Kafka: ``ConsumerCoordinator.lookupAssignor`` (IllegalStateException if not configured).
    """
    names = [s.strip() for s in strategy.split(",")] if isinstance(strategy, str) else list(strategy)
    for n in names:
        assignor = get_assignor(n, path=path)
        if assignor.name == protocol_name:
            return assignor
    raise ConfigError(path, f"the group chose assignor {protocol_name!r}, which is not among "
                      f"this member's configured assignors {names}")


def select_assignor(preferences: Mapping[str, Sequence[str]]) -> str:
    """Broker-side choice of a classic group's assignor from each member's preference list.

    Candidates are the names every member supports; each member votes for its first
    candidate; most votes wins. Ties (Java: HashMap order) are broken by the preference
    order of the member with the smallest member id.
    Kafka: ``GenericGroup.selectProtocol`` / ``candidateProtocols``.
    """
    if not preferences:
        raise InconsistentGroupProtocolError("", "INCONSISTENT_GROUP_PROTOCOL: no members")
    members = sorted(preferences)
    common = set(preferences[members[0]])
    for m in members[1:]:
        common &= set(preferences[m])
    if not common:
        shown = "; ".join(f"{m}: {list(preferences[m])}" for m in members[:6])
        raise InconsistentGroupProtocolError(
            "", f"INCONSISTENT_GROUP_PROTOCOL: the members share no assignor ({shown})")
    votes = Counter(next(n for n in preferences[m] if n in common) for m in members)
    best = max(votes.values())
    return next(n for n in preferences[members[0]] if votes.get(n) == best)


def assign(strategy: str, partitions_per_topic: Mapping[str, int],
           subscriptions: Sequence[Subscription]) -> GroupAssignment:
    """Run one assignor by name (convenience for ``get_assignor(strategy).assign(...)``)."""
    return get_assignor(strategy).assign(partitions_per_topic, subscriptions)
