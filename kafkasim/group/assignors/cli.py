"""``kafkasim assign``: run one assignor on a JSON description of a group.

Input: ``{"topics": {topic: partition_count}, "members": [{"member_id": str,
"group_instance_id": str (optional), "topics": [str], "owned": [[topic, partition], ...]
(optional), "generation": int (optional, default -1)}]}``. Owned partitions of unknown
topics are dropped, as Kafka does. A malformed file gives exit code 2 and one line
``FILE: path: problem`` on stderr.
Kafka: what the group leader's ``ConsumerCoordinator.onLeaderElected`` feeds the assignor.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from kafkasim.errors import ConfigError, KafkasimError
from kafkasim.group.assignors.base import (
    GroupAssignment,
    RebalanceProtocol,
    Subscription,
    get_assignor,
)
from kafkasim.records import TopicPartition

_TOP_KEYS = ("topics", "members")
_MEMBER_KEYS = ("member_id", "group_instance_id", "topics", "owned", "generation")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--strategy NAME`` (required), ``INPUT``, ``--json`` and ``--explain``."""
    parser.add_argument("input", metavar="INPUT",
                        help="JSON file: {\"topics\": {name: count}, \"members\": [...]}")
    parser.add_argument("--strategy", required=True, metavar="NAME",
                        help="range, roundrobin, sticky, cooperative-sticky, a Java class name "
                             "(org.apache.kafka.clients.consumer.RangeAssignor) or module:Class")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON document {member_id: [[topic, partition], ...]}; "
                             "for cooperative-sticky, withheld partitions are left out")
    parser.add_argument("--explain", action="store_true",
                        help="also print why: quotas, kept, moved and withheld partitions "
                             "(to stderr with --json)")


class _InputError(Exception):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = path, problem


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run the ``assign`` subcommand; 0 on success, 2 on bad input or strategy."""
    fname = args.input
    try:
        with open(fname, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        err.write(f"{fname}: cannot read: {getattr(exc, 'strerror', None) or exc}\n")
        return 2
    try:
        ppt, subs = parse_input(text)
    except _InputError as exc:
        err.write(f"{fname}: {exc.path}: {exc.problem}\n")
        return 2
    try:
        assignor = get_assignor(args.strategy, path="--strategy")
    except ConfigError as exc:
        err.write(f"{exc}\n")
        return 2
    try:
        result = assignor.assign(ppt, subs)
    except KafkasimError as exc:
        err.write(f"{fname}: assignor {assignor.name!r} failed: {exc}\n")
        return 1
    cooperative = RebalanceProtocol.COOPERATIVE in assignor.supported_protocols
    if args.json:
        out.write(json.dumps(result.to_json()) + "\n")
        if args.explain:
            err.write("".join(f"{line}\n" for line in result.explanation))
    else:
        out.write(_human(result, cooperative))
        if args.explain:
            out.write("\nexplanation:\n" + "".join(f"  {line}\n" for line in result.explanation))
    return 0


def _human(result: GroupAssignment, cooperative: bool) -> str:
    lines = [f"{m}: {' '.join(map(str, tps)) or '(none)'}"
             for m, tps in sorted(result.assignment.items())]
    if cooperative:
        withheld = " ".join(map(str, sorted(result.transferring))) or "(none)"
        lines.append(f"withheld this round (revoked first, assigned at the next rebalance): "
                     f"{withheld}")
    return "".join(f"{line}\n" for line in lines)


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_input(text: str) -> tuple[dict[str, int], list[Subscription]]:
    """Parse and check the JSON input; raises ``_InputError(path, problem)``."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _InputError(f"line {exc.lineno} column {exc.colno}", f"not valid JSON: {exc.msg}"
                          ) from None
    if not isinstance(doc, dict):
        raise _InputError("(top level)", "expected an object with \"topics\" and \"members\", "
                          f"got {_show(doc)}")
    for key in doc:
        if key not in _TOP_KEYS:
            raise _InputError(key, f"unknown key (expected one of: {', '.join(_TOP_KEYS)})")
    for key in _TOP_KEYS:
        if key not in doc:
            raise _InputError(key, "missing")
    topics = doc["topics"]
    if not isinstance(topics, dict):
        raise _InputError("topics", f"expected an object {{topic: partition_count}}, got "
                          f"{_show(topics)}")
    for name, count in topics.items():
        if not name:
            raise _InputError("topics", "topic names must not be empty")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise _InputError(f"topics.{name}", f"expected a partition count >= 0, got "
                              f"{_show(count)}")
    members = doc["members"]
    if not isinstance(members, list):
        raise _InputError("members", f"expected a list of members, got {_show(members)}")
    subs = []
    first_seen: dict[str, int] = {}
    for i, raw in enumerate(members):
        sub = _parse_member(raw, f"members[{i}]")
        if sub.member_id in first_seen:
            raise _InputError(f"members[{i}].member_id", f"duplicate member id "
                              f"{_show(sub.member_id)} (also members[{first_seen[sub.member_id]}])")
        first_seen[sub.member_id] = i
        subs.append(sub)
    return dict(topics), subs


def _parse_member(raw: Any, where: str) -> Subscription:
    if not isinstance(raw, dict):
        raise _InputError(where, f"expected an object, got {_show(raw)}")
    for key in raw:
        if key not in _MEMBER_KEYS:
            raise _InputError(f"{where}.{key}",
                              f"unknown key (expected one of: {', '.join(_MEMBER_KEYS)})")
    for key in ("member_id", "topics"):
        if key not in raw:
            raise _InputError(f"{where}.{key}", "missing")
    member_id = raw["member_id"]
    if not isinstance(member_id, str) or not member_id:
        raise _InputError(f"{where}.member_id", f"expected a non-empty string, got "
                          f"{_show(member_id)}")
    instance = raw.get("group_instance_id")
    if instance is not None and (not isinstance(instance, str) or not instance):
        raise _InputError(f"{where}.group_instance_id", f"expected a non-empty string or null, "
                          f"got {_show(instance)}")
    topics = raw["topics"]
    if not isinstance(topics, list):
        raise _InputError(f"{where}.topics", f"expected a list of topic names, got "
                          f"{_show(topics)}")
    for j, t in enumerate(topics):
        if not isinstance(t, str) or not t:
            raise _InputError(f"{where}.topics[{j}]", f"expected a topic name, got {_show(t)}")
    owned_raw = raw.get("owned", [])
    if not isinstance(owned_raw, list):
        raise _InputError(f"{where}.owned", f"expected a list of [topic, partition] pairs, got "
                          f"{_show(owned_raw)}")
    owned = []
    for j, pair in enumerate(owned_raw):
        if (not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], str)
                or isinstance(pair[1], bool) or not isinstance(pair[1], int) or pair[1] < 0):
            raise _InputError(f"{where}.owned[{j}]", f"expected [topic, partition >= 0], got "
                              f"{_show(pair)}")
        owned.append(TopicPartition(pair[0], pair[1]))
    generation = raw.get("generation", -1)
    if isinstance(generation, bool) or not isinstance(generation, int):
        raise _InputError(f"{where}.generation", f"expected an integer, got {_show(generation)}")
    return Subscription(member_id, tuple(topics), tuple(owned), generation, instance)
