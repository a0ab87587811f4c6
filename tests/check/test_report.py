"""The JSON result keeps its documented names, and `check` of a saved trace gives the same verdict."""

from __future__ import annotations

import json
from pathlib import Path

from kafkasim.check.report import build_result
from kafkasim.cli import main
from kafkasim.scenario import bundled
from kafkasim.scenario.load import load
from kafkasim.scenario.run import run
from kafkasim.sim.trace import Trace

ROOT = Path(__file__).parents[2]


def test_json_result_has_the_kept_names(capsys) -> None:
    code = main(["run", str(bundled.path_of("acks-1-lost-on-failover")), "--json"])
    out = capsys.readouterr().out
    doc = json.loads(out)  # exactly one JSON document
    assert code == 0
    for key in ("schema_version", "kafkasim_version", "scenario", "seed", "valid", "anomalies", "expectations"):
        assert key in doc
    for key in ("sent", "acknowledged", "failed", "lost_acknowledged", "duplicates", "consumed"):
        assert isinstance(doc["stats"]["delivery"][key], int)
    assert all("kind" in a for a in doc["anomalies"])
    assert doc["valid"] is False
    # retries without idempotence (max.in.flight 5) may also reorder: nonmonotonic-send is Kafka too
    assert "lost-write" in {a["kind"] for a in doc["anomalies"]}
    assert {a["kind"] for a in doc["anomalies"]} <= {"lost-write", "nonmonotonic-send"}


def test_result_from_saved_trace_equals_result_of_run(tmp_path: Path) -> None:
    sc = load(bundled.path_of("lost-response-duplicate"))
    res = run(sc)
    path = tmp_path / "t.jsonl"
    res.trace.save(path)
    again = build_result(Trace.load(path), sc.expect, sc)
    assert again == res.result


def test_run_out_dir_writes_files(tmp_path: Path, capsys) -> None:
    code = main(["run", str(bundled.path_of("acks-all-no-loss")), "--out", str(tmp_path / "o")])
    capsys.readouterr()
    assert code == 0
    for name in ("scenario.yaml", "trace.jsonl", "result.json"):
        assert (tmp_path / "o" / name).exists()
    header = json.loads((tmp_path / "o" / "trace.jsonl").read_text().splitlines()[0])
    assert header["schema_version"] == 1 and header["seed"] == 7 and header["scenario_hash"]
