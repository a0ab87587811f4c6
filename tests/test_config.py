"""The config registry: Kafka 4.x defaults, strict validation, and Kafka's cross-key rules."""

from __future__ import annotations

import re

import pytest

from kafkasim import config
from kafkasim.config import (
    REGISTRY,
    ConfigKey,
    Resolved,
    check_broker,
    check_consumer,
    check_producer,
    defaults,
    describe,
    keys,
    resolve,
    suggest,
    topic_config,
)
from kafkasim.errors import ConfigError

SEMANTICS_20 = [  # (role, key, value) verbatim from kafka-semantics.md section 20, Kafka 4.x
    ("producer", "acks", "all"),
    ("producer", "enable.idempotence", True),
    ("producer", "retries", 2147483647),
    ("producer", "max.in.flight.requests.per.connection", 5),
    ("producer", "delivery.timeout.ms", 120000),
    ("producer", "request.timeout.ms", 30000),
    ("producer", "retry.backoff.ms", 100),
    ("producer", "retry.backoff.max.ms", 1000),
    ("producer", "linger.ms", 5),  # KIP-1030, Kafka 4.0
    ("producer", "batch.size", 16384),
    ("producer", "buffer.memory", 33554432),
    ("producer", "max.request.size", 1048576),
    ("producer", "max.block.ms", 60000),
    ("producer", "transaction.timeout.ms", 60000),
    ("producer", "transactional.id", None),
    ("producer", "compression.type", "none"),
    ("producer", "partitioner.ignore.keys", False),
    ("consumer", "group.id", None),
    ("consumer", "group.instance.id", None),
    ("consumer", "session.timeout.ms", 45000),
    ("consumer", "heartbeat.interval.ms", 3000),
    ("consumer", "max.poll.interval.ms", 300000),
    ("consumer", "max.poll.records", 500),
    ("consumer", "enable.auto.commit", True),
    ("consumer", "auto.commit.interval.ms", 5000),
    ("consumer", "auto.offset.reset", "latest"),
    ("consumer", "isolation.level", "read_uncommitted"),
    ("consumer", "partition.assignment.strategy", ["range", "cooperative-sticky"]),
    ("consumer", "group.protocol", "classic"),
    ("consumer", "fetch.min.bytes", 1),
    ("consumer", "fetch.max.wait.ms", 500),
    ("consumer", "max.partition.fetch.bytes", 1048576),
    ("consumer", "fetch.max.bytes", 52428800),
    ("consumer", "request.timeout.ms", 30000),
    ("consumer", "default.api.timeout.ms", 60000),
    ("broker", "default.replication.factor", 1),
    ("broker", "num.partitions", 1),
    ("broker", "min.insync.replicas", 1),
    ("broker", "unclean.leader.election.enable", False),
    ("broker", "replica.lag.time.max.ms", 30000),
    ("broker", "replica.fetch.wait.max.ms", 500),
    ("broker", "broker.session.timeout.ms", 9000),
    ("broker", "broker.heartbeat.interval.ms", 2000),
    ("broker", "unclean.leader.election.interval.ms", 300000),
    ("broker", "auto.leader.rebalance.enable", True),
    ("broker", "log.retention.check.interval.ms", 300000),
    ("broker", "message.max.bytes", 1048588),
    ("broker", "group.initial.rebalance.delay.ms", 3000),
    ("broker", "group.min.session.timeout.ms", 6000),
    ("broker", "group.max.session.timeout.ms", 1800000),
    ("broker", "offsets.topic.num.partitions", 50),
    ("broker", "offsets.topic.replication.factor", 3),
    ("broker", "offsets.retention.minutes", 10080),
    ("broker", "transaction.state.log.num.partitions", 50),
    ("broker", "transaction.state.log.replication.factor", 3),
    ("broker", "transaction.state.log.min.isr", 2),
    ("broker", "transaction.max.timeout.ms", 900000),
    ("broker", "transactional.id.expiration.ms", 604800000),
    ("broker", "producer.id.expiration.ms", 86400000),
    ("broker", "group.consumer.heartbeat.interval.ms", 5000),
    ("broker", "group.consumer.session.timeout.ms", 45000),
    ("topic", "cleanup.policy", ["delete"]),
    ("topic", "retention.ms", 604800000),
    ("topic", "retention.bytes", -1),
    ("topic", "segment.bytes", 1073741824),
    ("topic", "segment.ms", 604800000),
    ("topic", "max.message.bytes", 1048588),
    ("topic", "min.insync.replicas", 1),
    ("topic", "unclean.leader.election.enable", False),
    ("topic", "delete.retention.ms", 86400000),
    ("topic", "min.compaction.lag.ms", 0),
    ("topic", "max.compaction.lag.ms", 2**63 - 1),
    ("topic", "min.cleanable.dirty.ratio", 0.5),
    ("kafkasim", "strict_min_isr", True),
    ("kafkasim", "truncation", "leader_epoch"),
    ("kafkasim", "eligible_leader_replicas", False),
    ("kafkasim", "crash_model", "process"),
    ("kafkasim", "txn_epoch_bump_per_txn", True),
]


def err(fn, *args, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        fn(*args, **kwargs)
    return info.value


# -- the table itself --------------------------------------------------------------------------

@pytest.mark.parametrize(("role", "name", "value"), SEMANTICS_20)
def test_defaults_match_kafka(role, name, value):
    got = defaults(role)[name]
    assert got == value and type(got) is type(value)


def test_registry_is_consistent():
    types = {"int", "long", "double", "bool", "string", "list", "class"}
    for role, table in REGISTRY.items():
        assert role in config.ROLES
        for name, k in table.items():
            assert isinstance(k, ConfigKey) and k.name == name and k.role == role
            assert k.type in types, name
            assert k.doc and "\n" not in k.doc and k.doc[-1] in ".)", name
            assert k.modelled or "not model" in k.doc, f"{name}: say in the doc that it is not modelled"
            if k.broker_key is not None:
                assert role == "topic" and k.broker_key in REGISTRY["broker"], name
                assert REGISTRY["broker"][k.broker_key].type == k.type, name
            # every default passes its own validation
            assert resolve(role, {name: config._fresh(k.default)})[name] == config._fresh(k.default)
    assert all(k.broker_key for k in REGISTRY["topic"].values())


def test_kafka_names_verbatim():
    for role in ("broker", "topic", "producer", "consumer"):
        assert all(re.fullmatch(r"[a-z][a-z0-9]*(\.[a-z0-9]+)*", n) for n in keys(role))
    assert all(re.fullmatch(r"[a-z_]+", n) for n in keys("kafkasim"))


def test_registry_and_defaults_are_not_shared_state():
    with pytest.raises(TypeError):
        keys("producer")["acks"] = None  # type: ignore[index]
    d = defaults("consumer")
    d["partition.assignment.strategy"].append("sticky")
    assert defaults("consumer")["partition.assignment.strategy"] == ["range", "cooperative-sticky"]


def test_unknown_role():
    with pytest.raises(ValueError, match="unknown config role 'produser'"):
        keys("produser")
    with pytest.raises(ValueError):
        resolve("client", {})


# -- resolve: unknown keys ---------------------------------------------------------------------

def test_unknown_key_did_you_mean():
    e = err(resolve, "producer", {"ack": "all"}, "producers[0].config")
    assert e.path == "producers[0].config.ack"
    assert "did you mean 'acks'?" in e.problem
    e = err(resolve, "consumer", {"sesion.timeout.ms": 10000}, "groups[0].config")
    assert "did you mean 'session.timeout.ms'?" in str(e)
    assert "did you mean 'strict_min_isr'" in str(err(resolve, "kafkasim", {"strict.min.isr": True}))
    assert "did you mean 'acks'" in str(err(resolve, "producer", {"ACKS": 1}))
    assert "did you mean" not in str(err(resolve, "producer", {"zzzz": 1}))


def test_unknown_key_names_the_right_role():
    e = err(resolve, "consumer", {"acks": 1}, "c")
    assert "acks is a producer setting, not a consumer one" in e.problem
    e = err(resolve, "producer", {"min.insync.replicas": 2})
    assert "broker/topic setting, not a producer one" in e.problem
    e = err(resolve, "topic", {"log.retention.ms": 1000})
    assert "the topic-level name is 'retention.ms'" in e.problem
    e = err(resolve, "broker", {"retention.ms": 1000})
    assert "the broker-level name is 'log.retention.ms'" in e.problem


def test_no_path_means_bare_key():
    assert err(resolve, "producer", {"linger.ms": -1}).path == "linger.ms"


def test_overrides_must_be_a_mapping_with_string_keys():
    assert "expected a mapping" in str(err(resolve, "producer", ["acks"], "p"))
    assert "keys must be strings" in str(err(resolve, "producer", {1: 2}, "p"))


# -- resolve: types, ranges, choices -----------------------------------------------------------

@pytest.mark.parametrize(("name", "value", "expected"), [
    ("enable.idempotence", "off", "expected true or false, got the string 'off'"),
    ("enable.idempotence", "true", "expected true or false, got the string 'true'"),
    ("enable.idempotence", 1, "expected true or false, got 1 (an integer)"),
    ("linger.ms", 1.5, "expected an integer, got 1.5 (a float)"),
    ("linger.ms", 5.0, "expected an integer, got 5.0 (a float)"),
    ("linger.ms", True, "expected an integer, got true (a boolean)"),
    ("linger.ms", "5", "expected an integer, got the string '5'"),
    ("linger.ms", "1_000", "no '_' separators"),
    ("linger.ms", None, "expected an integer, got null"),
    ("client.id", 7, "expected a string, got 7 (an integer)"),
    ("transactional.id", "", "non-empty"),
    ("acks", 2, "2 (an integer) is not a valid value; expected one of 0, 1, all"),
    ("acks", "leader", "'leader' is not a valid value"),
    ("acks", True, "true (a boolean) is not a valid value"),
    ("compression.type", "brotli", "'brotli' is not a valid value; expected one of 'none', 'gzip'"),
])
def test_wrong_types_and_values_name_the_value(name, value, expected):
    e = err(resolve, "producer", {name: value}, "producers[0].config")
    assert e.path == f"producers[0].config.{name}"
    assert expected in e.problem


def test_ranges():
    assert "must be at least 0, got -1" in str(err(resolve, "producer", {"linger.ms": -1}))
    assert "must be at least 1, got 0" in str(err(resolve, "producer", {"max.in.flight.requests.per.connection": 0}))
    assert "must be at most 2147483647" in str(err(resolve, "consumer", {"max.poll.interval.ms": 2**31}))
    assert "must be at most 1" in str(err(resolve, "topic", {"min.cleanable.dirty.ratio": 1.5}))
    assert "expected a number, got .nan" in str(err(resolve, "topic", {"min.cleanable.dirty.ratio": float("nan")}))
    assert "must be at least 1048576" in str(err(resolve, "topic", {"segment.bytes": 1024}))
    assert resolve("topic", {"retention.ms": -1})["retention.ms"] == -1
    assert "at least -1" in str(err(resolve, "topic", {"retention.ms": -2}))
    assert resolve("producer", {"linger.ms": 2**40})["linger.ms"] == 2**40  # long
    assert "at most 9223372036854775807" in str(err(resolve, "producer", {"linger.ms": 2**63}))


def test_infinities_are_out_of_range():
    assert "must be at most 1, got .inf" in str(err(resolve, "topic", {"min.cleanable.dirty.ratio": float("inf")}))
    assert "expected an integer, got -.inf (a float)" in str(err(resolve, "producer", {"linger.ms": float("-inf")}))


def test_resolved_survives_copying():
    import copy
    import pickle

    r = resolve("producer", {"acks": 1})
    for c in (copy.deepcopy(r), pickle.loads(pickle.dumps(r)), copy.copy(r)):
        assert c == r and c.explicit == {"acks"} and c.role == "producer"


def test_doubles_accept_ints_as_floats():
    v = resolve("topic", {"min.cleanable.dirty.ratio": 1})["min.cleanable.dirty.ratio"]
    assert v == 1.0 and isinstance(v, float)


def test_choices():
    e = err(resolve, "consumer", {"auto.offset.reset": "smallest"}, "g")
    assert "expected one of 'earliest', 'latest', 'none'" in e.problem and "librdkafka" in e.problem
    assert "did you mean 'earliest'" in str(err(resolve, "consumer", {"auto.offset.reset": "earlest"}))
    assert "did you mean 'read_committed'" in str(err(resolve, "consumer", {"isolation.level": "read-committed"}))
    assert resolve("consumer", {"group.protocol": "CONSUMER"})["group.protocol"] == "consumer"
    assert resolve("consumer", {"group.remote.assignor": "uniform"})["group.remote.assignor"] == "uniform"
    assert "'crash'" in str(err(resolve, "kafkasim", {"crash_model": "crash"}))


@pytest.mark.parametrize(("given", "stored"), [(0, "0"), (1, "1"), (-1, "all"), ("all", "all"), ("-1", "all"),
                                               ("0", "0"), ("1", "1"), ("ALL", "all")])
def test_acks_normalised(given, stored):
    assert resolve("producer", {"acks": given})["acks"] == stored


def test_assignment_strategy_names():
    r = resolve("consumer", {"partition.assignment.strategy": [
        "org.apache.kafka.clients.consumer.CooperativeStickyAssignor", "RoundRobinAssignor", "sticky", "my.pkg:MyAssignor"]})
    assert r["partition.assignment.strategy"] == ["cooperative-sticky", "roundrobin", "sticky", "my.pkg:MyAssignor"]
    assert resolve("consumer", {"partition.assignment.strategy": "range, roundrobin"})[
        "partition.assignment.strategy"] == ["range", "roundrobin"]
    e = err(resolve, "consumer", {"partition.assignment.strategy": ["rangee"]}, "g")
    assert "unknown assignor 'rangee'" in e.problem and "did you mean 'range'" in e.problem
    assert "at least one" in str(err(resolve, "consumer", {"partition.assignment.strategy": []}))
    assert "listed twice" in str(err(resolve, "consumer", {"partition.assignment.strategy": [
        "range", "org.apache.kafka.clients.consumer.RangeAssignor"]}))
    assert "list of strings" in str(err(resolve, "consumer", {"partition.assignment.strategy": [1]}))


def test_cleanup_policy_list():
    assert resolve("topic", {"cleanup.policy": "compact"})["cleanup.policy"] == ["compact"]
    assert resolve("topic", {"cleanup.policy": "delete,compact"})["cleanup.policy"] == ["delete", "compact"]
    assert resolve("topic", {"cleanup.policy": ["compact", "delete"]})["cleanup.policy"] == ["compact", "delete"]
    assert "'archive' is not a valid value" in str(err(resolve, "topic", {"cleanup.policy": "archive"}))
    assert "at least one of delete, compact" in str(err(resolve, "topic", {"cleanup.policy": []}))


def test_resolve_is_complete_and_remembers_explicit_keys():
    r = resolve("producer", {"acks": 1}, "p")
    assert isinstance(r, Resolved) and set(r) == set(keys("producer"))
    assert r.explicit == {"acks"} and r.role == "producer"
    assert resolve("producer", None) == defaults("producer")


# -- producer cross-checks (ProducerConfig.postProcessAndValidateIdempotenceConfigs) -------------

@pytest.mark.parametrize(("override", "culprit"), [
    ({"acks": 1}, "acks"), ({"acks": 0}, "acks"), ({"retries": 0}, "retries"),
])
def test_explicit_idempotence_with_conflict_is_an_error(override, culprit):
    e = err(check_producer, {"enable.idempotence": True, **override}, "producers[0].config")
    assert e.path == f"producers[0].config.{culprit}"
    assert "enable.idempotence=true is set explicitly" in e.problem


@pytest.mark.parametrize("override", [{"acks": 1}, {"acks": "0"}, {"retries": 0}])
def test_default_idempotence_is_silently_disabled(override):
    given = resolve("producer", override)
    out = check_producer(given, "p")
    assert out["enable.idempotence"] is False
    assert given["enable.idempotence"] is True  # input untouched
    assert check_producer(override)["enable.idempotence"] is False  # raw overrides work too


def test_max_in_flight_above_five_needs_idempotence_off():
    # Kafka >= 4.0 (KAFKA-17927): an error even when idempotence is only on by default
    e = err(check_producer, {"max.in.flight.requests.per.connection": 6}, "p")
    assert e.path == "p.max.in.flight.requests.per.connection" and "KAFKA-17927" in e.problem
    err(check_producer, {"max.in.flight.requests.per.connection": 6, "acks": 1})
    out = check_producer({"max.in.flight.requests.per.connection": 6, "enable.idempotence": False})
    assert out["max.in.flight.requests.per.connection"] == 6
    assert check_producer({"max.in.flight.requests.per.connection": 5})["enable.idempotence"] is True


def test_transactional_id_requires_idempotence():
    assert check_producer({"transactional.id": "tx-1"})["enable.idempotence"] is True
    e = err(check_producer, {"transactional.id": "tx-1", "enable.idempotence": False}, "p")
    assert e.path == "p.transactional.id" and "enable.idempotence=false" in e.problem
    e = err(check_producer, {"transactional.id": "tx-1", "acks": 1}, "p")
    assert "turned off by acks=1" in e.problem


def test_delivery_timeout_floor():
    e = err(check_producer, {"delivery.timeout.ms": 30000}, "p")
    assert e.path == "p.delivery.timeout.ms" and "5 + 30000 = 30005" in e.problem
    assert check_producer({"delivery.timeout.ms": 30005})["delivery.timeout.ms"] == 30005
    # not set explicitly: Kafka raises the default to linger + request timeout
    assert check_producer({"request.timeout.ms": 200000})["delivery.timeout.ms"] == 200005


def test_check_producer_is_idempotent():
    once = check_producer({"acks": 1, "request.timeout.ms": 200000})
    assert check_producer(once) == once


def test_transaction_timeout_against_broker_cap():
    broker = resolve("broker", {"transaction.max.timeout.ms": 60000})
    check_producer({"transactional.id": "t", "transaction.timeout.ms": 60000}, broker=broker)
    e = err(check_producer, {"transactional.id": "t", "transaction.timeout.ms": 60001}, "p", broker=broker)
    assert "INVALID_TRANSACTION_TIMEOUT" in e.problem
    check_producer({"transaction.timeout.ms": 10**6}, broker=broker)  # not transactional: unused


# -- consumer cross-checks -----------------------------------------------------------------------

def test_session_timeout_within_broker_bounds():
    e = err(check_consumer, {"group.id": "g", "session.timeout.ms": 2000, "heartbeat.interval.ms": 500},
            None, "groups[0].config")
    assert str(e) == ("groups[0].config.session.timeout.ms: 2000 is below group.min.session.timeout.ms (6000); "
                      "the broker would reject JoinGroup with INVALID_SESSION_TIMEOUT")
    e = err(check_consumer, {"group.id": "g", "session.timeout.ms": 2_000_000}, {}, "c")
    assert "above group.max.session.timeout.ms (1800000)" in e.problem
    check_consumer({"group.id": "g", "session.timeout.ms": 2000, "heartbeat.interval.ms": 500},
                   {"group.min.session.timeout.ms": 1000})
    check_consumer({"session.timeout.ms": 2000, "heartbeat.interval.ms": 500}, None)  # no group, no JoinGroup


def test_heartbeat_below_session():
    e = err(check_consumer, {"group.id": "g", "session.timeout.ms": 10000, "heartbeat.interval.ms": 10000}, None, "c")
    assert e.path == "c.heartbeat.interval.ms" and "lower than session.timeout.ms (10000)" in e.problem


def test_protocol_specific_keys():
    e = err(check_consumer, {"group.id": "g", "group.protocol": "consumer", "session.timeout.ms": 30000}, None, "c")
    assert "cannot be set when group.protocol=consumer" in e.problem and "group.consumer.session.timeout.ms" in e.problem
    check_consumer({"group.id": "g", "group.protocol": "consumer", "group.remote.assignor": "range"}, None)
    e = err(check_consumer, {"group.id": "g", "group.remote.assignor": "range"}, None, "c")
    assert e.path == "c.group.remote.assignor" and "group.protocol=classic" in e.problem


def test_auto_commit_without_group():
    assert check_consumer({}, None)["enable.auto.commit"] is False
    assert check_consumer({"group.id": "g"}, None)["enable.auto.commit"] is True
    assert "without a group.id" in str(err(check_consumer, {"enable.auto.commit": True}, None))


def test_consumer_choices_checked():
    assert "'oldest'" in str(err(check_consumer, {"auto.offset.reset": "oldest"}, None, "c"))
    assert "read_committed" in str(err(check_consumer, {"isolation.level": "committed"}, None, "c"))


def test_broker_fetch_wait_within_lag_time():
    check_broker({})
    e = err(check_broker, {"replica.fetch.wait.max.ms": 40000}, "cluster.config")
    assert e.path == "cluster.config.replica.fetch.wait.max.ms" and "replica.lag.time.max.ms" in e.problem


# -- topic config from broker defaults ------------------------------------------------------------

def test_topic_defaults_come_from_the_broker():
    broker = resolve("broker", {"min.insync.replicas": 2, "log.retention.ms": 1000, "message.max.bytes": 2048,
                                "log.cleanup.policy": "compact"})
    t = topic_config(broker, None, "topics[0].config")
    assert t["min.insync.replicas"] == 2 and t["retention.ms"] == 1000
    assert t["max.message.bytes"] == 2048 and t["cleanup.policy"] == ["compact"]
    t = topic_config(broker, {"min.insync.replicas": 3}, "topics[0].config")
    assert t["min.insync.replicas"] == 3 and t.explicit == {"min.insync.replicas"}
    assert topic_config({"min.insync.replicas": 2}, {})["min.insync.replicas"] == 2  # raw broker overrides
    assert topic_config(None, None) == defaults("topic")


def test_topic_config_errors():
    e = err(topic_config, None, {"min.compaction.lag.ms": 10, "max.compaction.lag.ms": 5}, "topics[1].config")
    assert e.path == "topics[1].config.min.compaction.lag.ms"
    assert err(topic_config, None, {"retention.ms": "7d"}, "t").path == "t.retention.ms"


# -- describe and suggest -------------------------------------------------------------------------

def test_describe():
    text = describe("linger.ms")
    assert "linger.ms (producer, long)" in text and "default: 5" in text and "KIP-1030" in text
    text = describe("min.insync.replicas")
    assert "(broker, int)" in text and "(topic, int)" in text and "broker-level default: min.insync.replicas" in text
    assert "valid values: 0, 1, all, -1" in describe("acks")
    assert "not modelled" in describe("max.block.ms")
    assert "not modelled" not in describe("compression.type")  # modelled since chapter 16
    assert "default: range, cooperative-sticky" in describe("partition.assignment.strategy")
    e = err(describe, "lingr.ms")
    assert "did you mean 'linger.ms'" in str(e)


def test_every_key_is_describable():
    for table in REGISTRY.values():
        for name in table:
            assert name in describe(name)


def test_suggest():
    assert suggest("ack", ["acks", "retries"]) == " (did you mean 'acks'?)"
    assert suggest("xyz", ["acks"]) == ""
    assert suggest("Acks", ["acks"]) == " (did you mean 'acks'?)"
    assert suggest("a", []) == ""
