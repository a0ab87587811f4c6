"""Same scenario and seed -> byte-identical trace, in this process and across processes with
different PYTHONHASHSEED values."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from kafkasim.scenario import bundled
from kafkasim.scenario.load import load
from kafkasim.scenario.run import run

ROOT = Path(__file__).parents[1]
SCENARIO = bundled.path_of("acks-1-lost-on-failover")


def test_same_seed_same_trace() -> None:
    sc = load(SCENARIO)
    assert run(sc).trace.dumps() == run(sc).trace.dumps()


def test_different_seed_different_trace() -> None:
    sc = load(SCENARIO)
    assert run(sc, seed=1).trace.dumps() != run(sc, seed=2).trace.dumps()


def test_trace_identical_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    digests = set()
    for hash_seed in ("0", "1", "12345"):
        out = tmp_path / f"trace-{hash_seed}.jsonl"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-m", "kafkasim", "run", str(SCENARIO), "--trace", str(out)],
                       check=False, env=env, capture_output=True, cwd=ROOT)
        digests.add(hashlib.sha256(out.read_bytes()).hexdigest())
    assert len(digests) == 1
