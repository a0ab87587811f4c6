"""The ``assign`` subcommand pieces: argument parsing, output formats, one-line input errors."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from kafkasim.group.assignors import cli

GROUP = {"topics": {"t": 3, "u": 1},
         "members": [{"member_id": "consumer1", "topics": ["t"], "owned": [["t", 0], ["t", 1],
                                                                           ["t", 2]],
                      "generation": 1},
                     {"member_id": "consumer2", "topics": ["t", "u"], "generation": 1}]}


def run(tmp_path, argv, doc=None, text=None):
    path = tmp_path / "in.json"
    path.write_text(text if text is not None else json.dumps(doc if doc is not None else GROUP))
    parser = argparse.ArgumentParser(prog="kafkasim assign")
    cli.add_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    rc = cli.run(parser.parse_args([str(path), *argv]), out, err)
    return rc, out.getvalue(), err.getvalue(), str(path)


def test_strategy_is_required():
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["in.json"])


def test_human_output_one_line_per_member(tmp_path):
    rc, out, err, _ = run(tmp_path, ["--strategy", "range"])
    assert rc == 0 and err == ""
    assert out == "consumer1: t-0 t-1\nconsumer2: t-2 u-0\n"


def test_json_output_is_one_document(tmp_path):
    rc, out, err, _ = run(tmp_path, ["--strategy", "roundrobin", "--json"])
    assert rc == 0 and err == ""
    assert json.loads(out) == {"consumer1": [["t", 0], ["t", 2]], "consumer2": [["t", 1], ["u", 0]]}


def test_cooperative_withholds_and_says_so(tmp_path):
    """General path: sizes 3/1 are unbalanced, so t-0 (first in order) moves to consumer2 -
    after consumer1 revokes it."""
    rc, out, _, _ = run(tmp_path, ["--strategy", "cooperative-sticky"])
    assert rc == 0
    assert out.splitlines() == [
        "consumer1: t-1 t-2", "consumer2: u-0",
        "withheld this round (revoked first, assigned at the next rebalance): t-0"]
    rc, out, _, _ = run(tmp_path, ["--strategy", "cooperative-sticky", "--json"])
    assert json.loads(out) == {"consumer1": [["t", 1], ["t", 2]], "consumer2": [["u", 0]]}


def test_explain_adds_quota_kept_moved_withheld_lines(tmp_path):
    rc, out, _, _ = run(tmp_path, ["--strategy", "org.apache.kafka.clients.consumer."
                                   "CooperativeStickyAssignor", "--explain"])
    assert rc == 0
    text = out.split("explanation:", 1)[1]
    assert "general path" in text and "withheld" in text
    assert "consumer1: 2 partition(s); kept 2 of 3 owned; gives up: t-0" in text
    rc, out, err, _ = run(tmp_path, ["--strategy", "sticky", "--json", "--explain"])
    assert json.loads(out)  # stdout stays one JSON document
    assert "kept" in err


def test_owned_partitions_of_unknown_topics_are_dropped(tmp_path):
    doc = {"topics": {"t": 1}, "members": [{"member_id": "a", "topics": ["t", "gone"],
                                            "owned": [["gone", 4]], "generation": 2}]}
    rc, out, err, _ = run(tmp_path, ["--strategy", "sticky", "--json"], doc)
    assert (rc, err) == (0, "")
    assert json.loads(out) == {"a": [["t", 0]]}


def member(**kw):
    return {"member_id": "m", "topics": ["t"], **kw}


@pytest.mark.parametrize(("doc", "text", "where"), [
    (None, "{not json", "line 1 column 2: not valid JSON"),
    ([1, 2], None, "(top level): expected an object"),
    ({"topics": {}, "members": [], "extra": 1}, None, "extra: unknown key"),
    ({"topics": {}}, None, "members: missing"),
    ({"topics": [], "members": []}, None, "topics: expected an object"),
    ({"topics": {"t": -1}, "members": []}, None, "topics.t: expected a partition count >= 0, got -1"),
    ({"topics": {"t": True}, "members": []}, None, "topics.t: expected a partition count"),
    ({"topics": {"t": 1}, "members": {}}, None, "members: expected a list of members"),
    ({"topics": {"t": 1}, "members": ["x"]}, None, "members[0]: expected an object, got \"x\""),
    ({"topics": {"t": 1}, "members": [member(), {"member_id": "n", "topics": 3}]}, None,
     "members[1].topics: expected a list of topic names, got 3"),
    ({"topics": {"t": 1}, "members": [member(colour="red")]}, None,
     "members[0].colour: unknown key"),
    ({"topics": {"t": 1}, "members": [{"topics": ["t"]}]}, None, "members[0].member_id: missing"),
    ({"topics": {"t": 1}, "members": [member(member_id=7)]}, None,
     "members[0].member_id: expected a non-empty string, got 7"),
    ({"topics": {"t": 1}, "members": [member(topics=["t", 5])]}, None,
     "members[0].topics[1]: expected a topic name, got 5"),
    ({"topics": {"t": 1}, "members": [member(owned=[["t", -1]])]}, None,
     "members[0].owned[0]: expected [topic, partition >= 0], got [\"t\", -1]"),
    ({"topics": {"t": 1}, "members": [member(owned="t-0")]}, None,
     "members[0].owned: expected a list of [topic, partition] pairs"),
    ({"topics": {"t": 1}, "members": [member(generation="1")]}, None,
     "members[0].generation: expected an integer, got \"1\""),
    ({"topics": {"t": 1}, "members": [member(group_instance_id=4)]}, None,
     "members[0].group_instance_id: expected a non-empty string or null"),
    ({"topics": {"t": 1}, "members": [member(), member()]}, None,
     "members[1].member_id: duplicate member id \"m\" (also members[0])"),
])
def test_malformed_input_is_one_clear_line_and_exit_2(tmp_path, doc, text, where):
    rc, out, err, path = run(tmp_path, ["--strategy", "range"], doc, text)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"{path}: {where}"), err


def test_unknown_strategy_exit_2_with_suggestion(tmp_path):
    rc, out, err, _ = run(tmp_path, ["--strategy", "stiky"])
    assert rc == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("--strategy: unknown assignor 'stiky' (did you mean 'sticky'?)")


def test_missing_file_exit_2(tmp_path):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    err = io.StringIO()
    rc = cli.run(parser.parse_args([str(tmp_path / "nope.json"), "--strategy", "range"]),
                 io.StringIO(), err)
    assert rc == 2 and err.getvalue().count("\n") == 1 and "cannot read" in err.getvalue()
