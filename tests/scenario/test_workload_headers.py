"""``workload.headers``: validated with located errors, formatted per record, counted in its size."""

from __future__ import annotations

import pytest

from kafkasim.errors import ScenarioError
from kafkasim.scenario.load import loads
from kafkasim.scenario.run import run

BASE = """\
name: headers
duration_ms: 10000
cluster: {brokers: 1}
topics:
  - {name: t, partitions: 2}
producers:
  - name: orders-service
    config: {max.request.size: MAX}
    workload:
      topic: t
      count: 20
      rate_per_s: 100
      headers: HEADERS
consumers:
  - {name: reader, topics: [t], config: {group.id: g, auto.offset.reset: earliest}}
"""


def scenario(headers: str, max_request: int = 1048576) -> str:
    return BASE.replace("HEADERS", headers).replace("MAX", str(max_request))


def test_headers_are_formatted_per_record_and_reach_the_consumer() -> None:
    sc = loads(scenario('{source: orders-service, version: "2", correlation_id: "{producer}-{n}"}'))
    assert sc.producers[0].workload.headers == (("source", "orders-service"), ("version", "2"),
                                                ("correlation_id", "{producer}-{n}"))
    res = run(sc)
    ids = [cid for e in res.trace.of("consume") for cid in e.data["correlation_ids"]]
    assert sorted(ids) == sorted(f"orders-service-{n}" for n in range(20))
    assert res.result["groups"]["g"]["correlation_ids"] == 20


def test_no_headers_no_correlation_ids_in_the_trace() -> None:
    res = run(loads(scenario("null")))
    assert all("correlation_ids" not in e.data for e in res.trace.of("consume"))
    assert res.result["groups"]["g"]["correlation_ids"] == 0


def test_headers_count_in_the_record_size() -> None:
    """A 600-byte header on a 100-byte value: each record exceeds max.request.size 700 only because of it."""
    ok = run(loads(scenario('{h: "' + "x" * 400 + '"}', max_request=700))).result["stats"]["delivery"]
    big = run(loads(scenario('{h: "' + "x" * 600 + '"}', max_request=700))).result["stats"]["delivery"]
    assert ok["failed"] == 0 and ok["acknowledged"] == 20
    assert big["failed_by_error"] == {"RECORD_TOO_LARGE": 20}


@pytest.mark.parametrize("headers,line,fragment", [
    ("{version: 2}", 13, 'expected a string (quote it: "2"), got 2'),
    ('{id: "{n}-{key}"}', 13, "only {n} (the record number) and {producer} may appear in braces"),
    ('{id: "{n"}', 13, "only {n}"),
    ("[a, b]", 13, "expected a mapping"),
    ("{a: {b: c}}", 13, "expected a string, got a mapping"),
])
def test_bad_headers_are_located(headers: str, line: int, fragment: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        loads(scenario(headers), "h.yaml")
    msg = str(exc.value)
    assert msg.startswith(f"h.yaml:{line}:"), msg
    assert "headers" in msg and fragment in msg, msg


@pytest.mark.parametrize("headers,fragment", [
    ('{"": x}', "a header name must be a non-empty string"),
    ("{1: x}", "keys must be strings"),
])
def test_header_names_must_be_strings(headers: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        loads(scenario(headers), "h.yaml")
    assert str(exc.value).startswith("h.yaml:13:") and fragment in str(exc.value), str(exc.value)
