"""Assignor lookup (Kafka names, Java class names, module:Class), protocol and assignor choice."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from kafkasim.errors import ConfigError, KafkaError
from kafkasim.group.assignors import (
    BUILTIN_NAMES,
    JAVA_CLASS_NAMES,
    Assignor,
    GroupAssignment,
    InconsistentGroupProtocolError,
    InvalidAssignmentError,
    RebalanceProtocol,
    Subscription,
    assign,
    assignment_problems,
    get_assignor,
    lookup_assignor,
    protocol_names,
    rebalance_protocol,
    select_assignor,
)
from kafkasim.records import TopicPartition
from kafkasim.testing.strategies import assignment_inputs


class EverythingToFirst:
    """A user's eager assignor: all partitions to the smallest subscribed member id."""

    name = "everything-to-first"
    supported_protocols = (RebalanceProtocol.EAGER,)

    def assign(self, partitions_per_topic, subscriptions):
        members = sorted(subscriptions, key=lambda s: s.member_id)
        out = {s.member_id: [] for s in members}
        for topic, n in sorted(partitions_per_topic.items()):
            subs = [s for s in members if topic in s.topics]
            if subs:
                out[subs[0].member_id] += [TopicPartition(topic, p) for p in range(n)]
        return out  # a plain dict is accepted and normalised


class GreedyCooperative:
    """Claims to be cooperative but hands a partition over while its owner still holds it."""

    name = "greedy"
    supported_protocols = (RebalanceProtocol.COOPERATIVE,)

    def assign(self, partitions_per_topic, subscriptions):
        last = max(s.member_id for s in subscriptions)
        return GroupAssignment({s.member_id: [TopicPartition("t", p)
                                              for p in range(partitions_per_topic["t"])]
                                if s.member_id == last else [] for s in subscriptions})


class NeedsArgs:
    name = "needs-args"

    def __init__(self, x):
        self.x = x


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_builtin_names(name):
    a = get_assignor(name)
    assert isinstance(a, Assignor)
    assert a.name == name


@pytest.mark.parametrize(("java", "name"), sorted(JAVA_CLASS_NAMES.items()))
def test_java_class_names(java, name):
    assert get_assignor(java).name == name


def test_supported_protocols_as_in_kafka():
    """Range/RoundRobin/Sticky: EAGER; CooperativeSticky: COOPERATIVE and EAGER."""
    E, C = RebalanceProtocol.EAGER, RebalanceProtocol.COOPERATIVE
    assert get_assignor("range").supported_protocols == (E,)
    assert get_assignor("roundrobin").supported_protocols == (E,)
    assert get_assignor("sticky").supported_protocols == (E,)
    assert set(get_assignor("cooperative-sticky").supported_protocols) == {C, E}


@pytest.mark.parametrize(("value", "suggestion"), [
    ("rnge", "range"), ("Range", "range"), ("round-robin", "roundrobin"),
    ("cooperative_sticky", "cooperative-sticky"),
    ("org.apache.kafka.clients.consumer.RangeAsignor",
     "org.apache.kafka.clients.consumer.RangeAssignor"),
])
def test_misspelt_names_get_did_you_mean(value, suggestion):
    with pytest.raises(ConfigError) as exc:
        get_assignor(value)
    msg = str(exc.value)
    assert repr(value) in msg and f"did you mean {suggestion!r}" in msg
    assert exc.value.path == "partition.assignment.strategy"


def test_unknown_name_without_suggestion_lists_expected_values():
    with pytest.raises(ConfigError, match="expected one of range, roundrobin"):
        get_assignor("zzzzzz", path="--strategy")


def test_custom_assignor_module_class():
    a = get_assignor(f"{__name__}:EverythingToFirst")
    assert a.name == "everything-to-first"
    assert a.supported_protocols == (RebalanceProtocol.EAGER,)
    subs = [Subscription("c2", ("t",)), Subscription("c1", ("t", "u"))]
    r = a.assign({"t": 2, "u": 1}, subs)
    assert r.assignment == {"c1": [TopicPartition("t", 0), TopicPartition("t", 1),
                                   TopicPartition("u", 0)], "c2": []}
    assert assign(f"{__name__}:EverythingToFirst", {"t": 1}, subs).assignment["c1"] == [
        TopicPartition("t", 0)]


@settings(max_examples=40, deadline=None)
@given(assignment_inputs())
def test_custom_assignor_output_is_valid_for_any_input(inp):
    result = get_assignor(f"{__name__}:EverythingToFirst").assign(*inp)
    assert assignment_problems(*inp, result) == []


@pytest.mark.parametrize(("spec", "message"), [
    ("no_such_module_xyz:Thing", "cannot import module 'no_such_module_xyz'"),
    (f"{__name__}:Missing", "has no 'Missing'"),
    (f"{__name__}:NeedsArgs", "cannot create assignor"),
    ("os.path:join", "has no 'name' string"),
    ("bad spec:X", "expected .package.module:ClassName."),
])
def test_custom_assignor_errors_are_config_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        get_assignor(spec)


def test_custom_cooperative_assignor_is_checked_like_kafkas_leader():
    """Kafka ConsumerCoordinator.validateCooperativeAssignment: added ∩ revoked must be empty."""
    a = get_assignor(f"{__name__}:GreedyCooperative")
    subs = [Subscription("a", ("t",), (TopicPartition("t", 0),), 1), Subscription("b", ("t",))]
    with pytest.raises(InvalidAssignmentError, match="t-0"):
        a.assign({"t": 1}, subs)


@pytest.mark.parametrize(("strategy", "expected"), [
    (["range", "cooperative-sticky"], RebalanceProtocol.EAGER),  # Java's default list
    (["cooperative-sticky"], RebalanceProtocol.COOPERATIVE),
    (["sticky"], RebalanceProtocol.EAGER),
    ("cooperative-sticky, org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
     RebalanceProtocol.COOPERATIVE),
])
def test_rebalance_protocol_is_highest_common(strategy, expected):
    assert rebalance_protocol(strategy) is expected


def test_rebalance_protocol_without_common_protocol():
    with pytest.raises(ConfigError, match="no rebalance protocol in common"):
        rebalance_protocol(["range", f"{__name__}:GreedyCooperative"])
    with pytest.raises(ConfigError):
        rebalance_protocol([])


def test_select_assignor_majority_vote():
    prefs = {"a": ["range", "roundrobin"], "b": ["roundrobin", "range"],
             "c": ["roundrobin", "range", "sticky"]}
    assert select_assignor(prefs) == "roundrobin"


def test_select_assignor_only_common_names_are_candidates():
    prefs = {"a": ["sticky", "range"], "b": ["cooperative-sticky", "range"]}
    assert select_assignor(prefs) == "range"


def test_select_assignor_tie_uses_smallest_member_ids_order():
    prefs = {"b": ["range", "roundrobin"], "a": ["roundrobin", "range"]}
    assert select_assignor(prefs) == "roundrobin"
    assert select_assignor({"b": ["roundrobin", "range"], "a": ["range", "roundrobin"]}) == "range"


def test_select_assignor_inconsistent_group_protocol():
    with pytest.raises(InconsistentGroupProtocolError) as exc:
        select_assignor({"a": ["range"], "b": ["roundrobin"]})
    assert exc.value.error is KafkaError.INCONSISTENT_GROUP_PROTOCOL
    assert isinstance(exc.value, ConfigError)


def test_inputs_are_validated():
    with pytest.raises(ConfigError, match="duplicate member id"):
        assign("range", {"t": 1}, [Subscription("a", ("t",)), Subscription("a", ("t",))])
    with pytest.raises(ConfigError, match="partition count"):
        assign("sticky", {"t": -1}, [Subscription("a", ("t",))])
    with pytest.raises(ConfigError, match="got a string"):
        Subscription("a", "t")  # type: ignore[arg-type]


def test_subscription_coerces_lists():
    s = Subscription("a", ["t"], [("t", 0)])  # type: ignore[arg-type]
    assert s.topics == ("t",) and s.owned == (TopicPartition("t", 0),)


def test_protocol_names_and_lookup_like_the_leader():
    """ConsumerCoordinator.metadata / lookupAssignor: JoinGroup carries assignor names; the
    leader maps the group's choice back to one of its configured assignors."""
    strategy = ["org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
                f"{__name__}:EverythingToFirst"]
    assert protocol_names(strategy) == ["cooperative-sticky", "everything-to-first"]
    assert lookup_assignor("everything-to-first", strategy).name == "everything-to-first"
    assert lookup_assignor("cooperative-sticky", "range, cooperative-sticky").name == (
        "cooperative-sticky")
    with pytest.raises(ConfigError, match="not among"):
        lookup_assignor("range", strategy)
