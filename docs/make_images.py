"""Regenerate the guide's pictures from the bundled scenarios: ``python docs/make_images.py``.

Every image is drawn from a trace only, exactly as ``kafkasim plot`` draws it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kafkasim.plot.lag import lag_figure
from kafkasim.plot.replication import replication_figure
from kafkasim.plot.style import save
from kafkasim.plot.timeline import compare_timelines, timeline_figure
from kafkasim.scenario import bundled
from kafkasim.scenario.load import load
from kafkasim.scenario.run import run

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images"


def trace(name: str):
    return run(load(bundled.path_of(name))).trace


def main(out: Path = OUT) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    made = []
    jobs = [
        ("acks-1-lost-on-failover.png", lambda: replication_figure(trace("acks-1-lost-on-failover"))),
        ("acks-all-no-loss.png", lambda: replication_figure(trace("acks-all-no-loss"))),
        ("unclean-election-enabled.png", lambda: replication_figure(trace("unclean-election-enabled"))),
        ("rebalance-eager-vs-cooperative.png",
         lambda: compare_timelines([trace("group-join-eager"), trace("group-join-cooperative")])),
        ("consumer-crash-redelivery.png", lambda: timeline_figure(trace("consumer-crash-redelivery"))),
        ("consumer-lag-slow-consumer.png", lambda: lag_figure(trace("consumer-lag-slow-consumer"))),
    ]
    for name, make in jobs:
        path = out / name
        save(make(), path)
        made.append(path)
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", file=sys.stderr)
    return made


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
