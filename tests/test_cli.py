"""The command line: run (seeds, --set, progress), validate, check, list, explain; exit codes,
one-line errors, exactly one JSON document with --json."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

import kafkasim.cli as cli
from kafkasim.cli import main
from kafkasim.scenario import bundled
from kafkasim.scenario.load import load
from kafkasim.scenario.run import run

ROOT = Path(__file__).parents[1]
SCENARIOS = ROOT / "scenarios"
ACKS1 = str(bundled.path_of("acks-1-lost-on-failover"))
ACKS_ALL = str(bundled.path_of("acks-all-no-loss"))
DUP = str(bundled.path_of("lost-response-duplicate"))


def _main(*argv: str, err: io.StringIO | None = None) -> tuple[int, str, str]:
    out = io.StringIO()
    err = err if err is not None else io.StringIO()
    rc = main([str(a) for a in argv], out=out, err=err)
    return rc, out.getvalue(), err.getvalue()


def _json(out: str) -> dict:
    assert out.endswith("\n") and out.count("\n") == 1, "--json must print exactly one line/document"
    return json.loads(out)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


# -- run ---------------------------------------------------------------------------------------------
def test_run_uses_the_scenarios_seed_unless_told_otherwise() -> None:
    rc, out, _ = _main("run", ACKS1, "--json")
    assert rc == 0 and _json(out)["seed"] == 7
    rc, out, _ = _main("run", ACKS1, "--json", "--seed", "3")
    assert _json(out)["seed"] == 3


def test_seed_random_is_printed_and_reproducible() -> None:
    rc, out, err = _main("run", DUP, "--json", "--seed", "random")
    m = re.fullmatch(r"seed: (\d+) \(rerun with --seed \1\)\n", err)
    assert m, err
    first = _json(out)
    assert first["seed"] == int(m.group(1))
    rc2, again, _ = _main("run", DUP, "--json", "--seed", m.group(1))
    assert _json(again) == first and rc2 == rc


@pytest.mark.parametrize("seed", ["-1", "x", "1.5"])
def test_bad_seed_is_a_usage_error(seed: str) -> None:
    rc, out, err = _main("run", ACKS1, "--seed", seed)
    assert rc == 2 and out == "" and "non-negative integer or 'random'" in err


def test_set_on_dotted_kafka_keys_changes_the_outcome() -> None:
    rc, out, _ = _main("run", ACKS1, "--json", "--set", "producers[0].config.acks=all",
                       "--set", "producers[0].config.enable.idempotence=true",
                       "--set", "cluster.config.min.insync.replicas=2")
    res = _json(out)
    assert res["stats"]["delivery"]["lost_acknowledged"] == 0
    assert rc == 1  # the scenario's own expectation (lost_acknowledged > 0) now fails
    assert not {e["name"]: e["ok"] for e in res["expectations"]}["lost_acknowledged"]


def test_set_expectation_and_duration() -> None:
    rc, out, _ = _main("run", DUP, "--json", "--set", "expect.duplicates=0", "--set", 'expect.errors.REQUEST_TIMED_OUT=">=1"')
    res = _json(out)
    assert rc == 1
    assert {e["name"]: e["ok"] for e in res["expectations"]} == {
        "duplicates": False, "lost_acknowledged": True, "errors.REQUEST_TIMED_OUT": True, "consumed": True}


@pytest.mark.parametrize("value,expected", [
    ("producers[0].config.acks=2", "kafkasim: --set producers[0].config.acks=2: 2 (an integer) is not a valid value"),
    ("producers[3].config.acks=1", "kafkasim: --set producers[3].config.acks=1: producers has 1 item"),
    ("producers[0].config.ack=1", "kafkasim: --set producers[0].config.ack=1: unknown producer config 'ack' "
                                  "(did you mean 'acks'?)"),
    ("cluster.config.min.insync.replicas=yes", "kafkasim: --set cluster.config.min.insync.replicas=yes: expected an "
                                               "integer, got the string 'yes'"),
    ("acks", "kafkasim: --set acks: expected key=value"),
    ("producers[a].x=1", "kafkasim: --set producers[a].x=1: bad path"),
    ("durationms=5", "kafkasim: --set durationms=5: unknown key 'durationms' (did you mean 'duration_ms'?)"),
])
def test_bad_set_is_one_line_exit_2(value: str, expected: str) -> None:
    rc, out, err = _main("run", ACKS1, "--set", value)
    assert rc == 2 and out == ""
    assert err.startswith(expected) and err.count("\n") == 1, err


def test_out_with_set_writes_the_scenario_as_run(tmp_path: Path) -> None:
    d = tmp_path / "o"
    rc, out, _ = _main("run", DUP, "--set", "producers[0].config.enable.idempotence=true", "--out", d)
    assert rc == 1 and "wrote" in out  # idempotence: no duplicates, so duplicates: ">0" fails
    written = load(d / "scenario.yaml")
    assert written.producers[0].config["enable.idempotence"] is True
    trace_hash = json.loads((d / "trace.jsonl").read_text().splitlines()[0])["scenario_hash"]
    assert written.source_hash == trace_hash
    rc, out, err = _main("check", d / "trace.jsonl", "--json")  # finds scenario.yaml next to the trace
    assert rc == 1 and "using the expectations of" in err
    assert _json(out)["expectations"] == json.loads((d / "result.json").read_text())["expectations"]


def test_out_without_set_copies_the_file(tmp_path: Path) -> None:
    rc, _, _ = _main("run", DUP, "--out", tmp_path / "o", "--json")
    assert rc == 0 and (tmp_path / "o" / "scenario.yaml").read_text() == Path(DUP).read_text()


def test_scenario_error_is_one_located_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(Path(ACKS1).read_text().replace("brokers: 3", "brokers: three"))
    rc, out, err = _main("run", bad)
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"kafkasim: {bad}:15:12: ") and "cluster.brokers: expected an integer" in err


def test_missing_file_is_exit_2() -> None:
    rc, _, err = _main("run", "no/such/file.yaml")
    assert rc == 2 and "cannot read file" in err and err.count("\n") == 1


def test_internal_error_exit_3_and_debug_traceback(monkeypatch) -> None:
    import kafkasim.scenario.run as run_mod

    def boom(*a, **k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(run_mod, "run", boom)
    rc, out, err = _main("run", DUP)
    assert rc == 3 and "internal error: RuntimeError: kaboom" in err and "Traceback" not in err
    for argv in (("--debug", "run", DUP), ("run", DUP, "--debug")):
        rc, _, err = _main(*argv)
        assert rc == 3 and "Traceback" in err and "kaboom" in err


def test_progress_bar_only_on_a_tty_and_the_trace_is_unchanged(monkeypatch) -> None:
    monkeypatch.setattr(cli, "PROGRESS_AFTER_S", 0.0)
    tty = _Tty()
    rc, out, _ = _main("run", ACKS1, err=tty)
    assert rc == 0 and "% of 60 s simulated" in tty.getvalue() and "\r" in tty.getvalue()
    assert "simulated" not in out.split("\n")[0] or out.startswith("scenario")
    tty = _Tty()
    _main("run", ACKS1, "--json", err=tty)
    assert tty.getvalue() == ""  # never with --json
    rc, _, err = _main("run", ACKS1)
    assert "%" not in err  # never when stderr is not a terminal


@pytest.mark.parametrize("name", ["acks-1-lost-on-failover", "poll-timeout-eviction"])
def test_sliced_run_gives_the_same_trace(name: str) -> None:
    sc = load(bundled.path_of(name))
    whole = run(sc)
    sliced = cli.simulate(sc, None, _Tty(), after_s=0.0)
    assert sliced.trace.dumps() == whole.trace.dumps()
    assert sliced.result == whole.result


# -- check -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,sets", [
    ("acks-1-lost-on-failover", []),  # expectations hold although anomalies were found: 0
    ("lost-response-duplicate", []),
    ("truncation-high-watermark-loss", []),
    ("poll-timeout-eviction", []),
    ("min-isr-not-enough-replicas", []),
    ("acks-all-no-loss", ["expect.lost_acknowledged=>0"]),  # a failing expectation: 1
    ("acks-1-lost-on-failover", ["producers[0].config.acks=all", "producers[0].config.enable.idempotence=true"]),
])
def test_check_gives_the_verdict_of_the_run(tmp_path: Path, name: str, sets: list[str]) -> None:
    path = bundled.path_of(name)
    trace = tmp_path / "t.jsonl"
    set_args = [a for s in sets for a in ("--set", s)]
    rc_run, out, _ = _main("run", path, "--json", "--trace", trace, *set_args)
    ran = _json(out)
    rc, out, err = _main("check", trace, "--scenario", path, "--json", *set_args)
    assert rc == rc_run and _json(out) == ran
    assert err == ""  # same hash: no warning
    rc, human, _ = _main("check", trace, "--scenario", path, *set_args)
    assert rc == rc_run and human.startswith(f"scenario {name}") and "verdict:" in human


def test_check_finds_the_bundled_scenario_by_name_and_hash(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    rc_run, _, _ = _main("run", ACKS1, "--trace", trace)
    rc, out, err = _main("check", trace)
    assert rc == rc_run == 0 and "using the expectations of" in err and "every expectation held" in out


def test_check_without_scenario_checks_anomalies_only(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    _main("run", DUP, "--trace", trace, "--set", "seed=5")  # hash differs from any file
    rc, out, err = _main("check", trace, "--json")
    res = _json(out)
    assert res["expectations"] == [] and res["valid"] is False and rc == 1
    assert "anomalies only" in err


def test_check_warns_when_the_hash_differs(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    _main("run", ACKS1, "--trace", trace)
    rc, _, err = _main("check", trace, "--scenario", ACKS_ALL)
    assert rc == 1 and "warning" in err and "hash" in err and err.count("\n") == 1


@pytest.mark.parametrize("content,fragment", [
    ("not json\n", "not JSON"),
    ('{"type": "something"}\n', "not a kafkasim trace"),
    ("", "empty file"),
])
def test_check_bad_trace_is_exit_2(tmp_path: Path, content: str, fragment: str) -> None:
    p = tmp_path / "t.jsonl"
    p.write_text(content)
    rc, out, err = _main("check", p)
    assert rc == 2 and out == "" and fragment in err and err.count("\n") == 1


def test_check_missing_trace_and_set_without_scenario(tmp_path: Path) -> None:
    rc, _, err = _main("check", tmp_path / "nope.jsonl")
    assert rc == 2 and "cannot read trace" in err
    p = tmp_path / "t.jsonl"
    _main("run", DUP, "--trace", p)
    rc, _, err = _main("check", p, "--set", "duration_ms=1")
    assert rc == 2 and "--set needs --scenario" in err


# -- validate ----------------------------------------------------------------------------------------
def test_validate_ok_and_errors(tmp_path: Path) -> None:
    rc, out, err = _main("validate", ACKS1, ACKS_ALL)
    assert rc == 0 and err == ""
    assert out.splitlines()[0] == (f"{ACKS1}: ok (3 brokers, 1 topic (1 partition), 1 producer, 1 consumer, "
                                   "4 faults, 8 expectations; 60 s simulated)")
    bad = tmp_path / "bad.yaml"
    bad.write_text(Path(ACKS1).read_text().replace("count: 2000", "count: -1"))
    rc, out, _ = _main("validate", ACKS1, bad)
    lines = out.splitlines()
    assert rc == 2 and len(lines) == 2 and lines[0].endswith("60 s simulated)")
    assert lines[1].startswith(f"{bad}:") and "producers[0].workload.count: must be >= 0" in lines[1]


def test_validate_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    rc, out, _ = _main("validate", "--json", ACKS1, bad)
    doc = _json(out)
    assert rc == 2 and doc["ok"] is False
    good, wrong = doc["files"]
    assert good["ok"] and good["name"] == "acks-1-lost-on-failover" and good["summary"]["brokers"] == 3
    assert not wrong["ok"] and wrong["error"]["problem"].startswith("missing required key")


def test_validate_with_set_and_usage_errors() -> None:
    rc, out, _ = _main("validate", ACKS1, "--set", "topics[0].partitions=0")
    assert rc == 2 and "--set topics[0].partitions=0: must be >= 1" in out
    rc, _, err = _main("validate")
    assert rc == 2 and "--schema" in err
    rc, _, err = _main("validate", ACKS1, "--set", "oops")
    assert rc == 2 and "--set oops: expected key=value" in err


def test_validate_schema_is_one_json_document() -> None:
    rc, out, _ = _main("validate", "--schema")
    doc = json.loads(out)
    assert rc == 0 and doc["$schema"].endswith("2020-12/schema")
    assert {"name", "duration_ms", "cluster", "topics", "producers", "consumers", "faults", "expect"} <= set(doc["properties"])


# -- list --------------------------------------------------------------------------------------------
def test_list_bundled_sorted_with_first_sentences() -> None:
    rc, out, _ = _main("list")
    rows = [line.split()[:2] for line in out.splitlines()]
    assert rc == 0 and rows == sorted(rows) and len(rows) == len(bundled.paths())
    assert all(bundled.path_of(name).name == f"{chapter}-{name}.yaml" for chapter, name in rows)
    line = next(x for x in out.splitlines() if x.startswith("07  lost-response-duplicate "))
    assert line.endswith("Without idempotence a retry is just a resend.")


def test_list_json_and_dir(tmp_path: Path) -> None:
    rc, out, _ = _main("list", "--json")
    doc = _json(out)
    assert rc == 0 and doc["ok"] and Path(doc["dir"]) == SCENARIOS
    first = doc["scenarios"][0]
    assert {"name", "file", "summary", "ok", "counts"} <= set(first)
    (tmp_path / "b.yaml").write_text("name: bee\ndescription: Second. More.\nduration_ms: 1\ncluster: {brokers: 1}\n"
                                     "topics: []\n")
    (tmp_path / "a.yaml").write_text("name: zed\ndescription: 'e.g. this: one sentence, v1.2 ok. Next.'\n"
                                     "duration_ms: 1\ncluster: {brokers: 1}\ntopics: []\n")
    rc, out, _ = _main("list", "--dir", tmp_path)
    assert rc == 0 and out.splitlines() == ["bee  Second.", "zed  e.g. this: one sentence, v1.2 ok."]
    (tmp_path / "c.yaml").write_text("nope: 1\n")
    rc, out, _ = _main("list", "--dir", tmp_path, "--json")
    doc = _json(out)
    assert rc == 2 and [s["ok"] for s in doc["scenarios"]] == [True, False, True]
    rc, _, err = _main("list", "--dir", tmp_path / "missing")
    assert rc == 2 and "no such directory" in err


def test_first_sentence() -> None:
    assert cli.first_sentence("One two.\nThree.") == "One two."
    assert cli.first_sentence("No end") == "No end"
    assert cli.first_sentence("Since 0.11 (KIP-101). Then") == "Since 0.11 (KIP-101)."


# -- explain -----------------------------------------------------------------------------------------
def test_explain_key_and_where_bundled_scenarios_set_it() -> None:
    rc, out, _ = _main("explain", "acks")
    assert rc == 0 and out.startswith("acks (producer, string)")
    assert re.search(r"^  acks-1-lost-on-failover +producers\[0\]\.config\.acks: \"1\"$", out, re.M)
    rc, out, _ = _main("explain", "min.insync.replicas")
    assert "(broker, int)" in out and "(topic, int)" in out
    assert re.search(r"acks-all-no-loss +cluster\.config\.min\.insync\.replicas: 2", out)
    assert re.search(r"unclean-election-enabled +topics\[0\]\.config\.min\.insync\.replicas: 1", out)
    rc, out, _ = _main("explain", "partition.assignment.strategy")
    assert "group-join-cooperative" in out and "[cooperative-sticky]" in out


def test_explain_unset_key_and_lint_code() -> None:
    rc, out, _ = _main("explain", "strict_min_isr")
    assert rc == 0 and "not set in any of the bundled scenarios" in out
    rc, out, _ = _main("explain", "K005")
    assert rc == 0 and out.startswith("K005 ") and "unclean-election-enabled" in out


@pytest.mark.parametrize("key,fragment", [("min.insync.replica", "did you mean 'min.insync.replicas'"),
                                          ("ackz", "did you mean 'acks'"), ("K999", "lint codes are K001..")])
def test_explain_unknown_key_exit_2(key: str, fragment: str) -> None:
    rc, out, err = _main("explain", key)
    assert rc == 2 and out == "" and fragment in err and err.count("\n") == 1


# -- the others still work ---------------------------------------------------------------------------
def test_existing_commands_unchanged() -> None:
    rc, out, _ = _main("partition", "--partitions", "6", "k0", "k1", "k2")
    assert rc == 0 and out == "k0\t5\nk1\t5\nk2\t3\n"
    rc, _, err = _main("nope")
    assert rc == 2 and "invalid choice" in err
    rc, out, _ = _main("--version")
    assert rc == 0 and out.startswith("kafkasim ")
    rc, out, _ = _main("run", "--help")
    assert rc == 0 and "--set KEY=VALUE" in out and "--seed N|random" in out
