"""Retention deletes whole segments (§14; Kafka ``UnifiedLog.deleteOldSegments``).

A segment goes when it lies wholly below the high watermark and its newest record is older
than ``retention.ms`` (or the partition is larger than ``retention.bytes`` by at least the
segment); the active segment rolls only on an append (``segment.ms`` / ``segment.bytes``).
"""

from __future__ import annotations

import pytest

SCENARIO = """
name: retention
duration_ms: {duration}
cluster:
  brokers: 1
  config: {{log.retention.check.interval.ms: 1000}}
topics:
  - name: t
    partitions: 1
    replication_factor: 1
    config: {topic}
producers:
  - name: p
    workload: {{topic: t, count: 1000, rate_per_s: 100}}
"""


def _log_start(kit, topic: str, duration: int) -> int:
    sim = kit.build(SCENARIO.format(topic=topic, duration=duration))
    sim.world.run(duration)
    return kit.log(sim, 1).log_start


def test_default_segments_keep_everything_while_the_producer_writes(kit) -> None:
    """retention.ms is long past for the first records, but they share the active segment with
    recent ones (segment.ms defaults to 7 days): nothing can be deleted yet."""
    assert _log_start(kit, "{retention.ms: 2000}", 9_000) == 0


def test_the_whole_active_segment_goes_once_its_newest_record_is_old_enough(kit) -> None:
    """The producer stops at 10 s; at the first check after 10 s + retention.ms the whole log goes."""
    assert _log_start(kit, "{retention.ms: 2000}", 11_900) == 0
    assert _log_start(kit, "{retention.ms: 2000}", 13_100) == 1000


@pytest.mark.parametrize("now", [3_500, 4_100, 6_100, 9_900])
def test_rolled_segments_go_one_by_one(kit, now: int) -> None:
    """segment.ms 1 s: a segment per second or so. The expected log start is computed from the
    same run without retention: the last check (every 1 s) deletes, oldest first, each segment
    whose newest record is more than retention.ms older than the check."""
    keep = kit.build(SCENARIO.format(topic="{retention.ms: -1, segment.ms: 1000}", duration=now))
    keep.world.run(now)
    check = now // 1000 * 1000
    expected = 0
    for _base, upper, _size, newest in kit.log(keep, 1).segment_spans():
        if check - newest <= 2000:  # too new at the last check (and so is every later segment)
            break
        expected = upper
    assert 0 < expected or now < 4_000
    assert _log_start(kit, "{retention.ms: 2000, segment.ms: 1000}", now) == expected
