"""``kafkasim partition`` subcommand body, driven through its own argparse parser."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from kafkasim.clients import partition_cli


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kafkasim partition")
    partition_cli.add_arguments(parser)
    return parser


def invoke(*argv: str) -> tuple[int, str, str]:
    args = make_parser().parse_args(list(argv))
    out, err = io.StringIO(), io.StringIO()
    code = partition_cli.run(args, out, err)
    return code, out.getvalue(), err.getvalue()


def test_text_output_one_line_per_key_in_order() -> None:
    code, out, err = invoke("--partitions", "6", "k9", "k0", "k2", "k5")
    assert code == 0
    assert err == ""
    assert out == "k9\t2\nk0\t5\nk2\t3\nk5\t0\n"


def test_options_may_follow_keys() -> None:
    code, out, _ = invoke("k2", "k9", "--partitions", "12")
    assert code == 0
    assert out.splitlines() == ["k2\t9", "k9\t8"]


def test_duplicate_keys_are_printed_each_time() -> None:
    _, out, _ = invoke("--partitions", "3", "k0", "k0")
    assert out == "k0\t2\nk0\t2\n"


def test_json_output_is_one_object_in_key_order() -> None:
    code, out, err = invoke("--json", "--partitions", "3", "k3", "k0", "k8")
    assert code == 0
    assert err == ""
    assert out.count("\n") == 1
    parsed = json.loads(out)
    assert parsed == {"k3": 1, "k0": 2, "k8": 2}
    assert list(parsed) == ["k3", "k0", "k8"]


def test_non_ascii_and_empty_keys() -> None:
    _, out, _ = invoke("--json", "--partitions", "6", "ключ", "🔑", "")
    assert json.loads(out) == {"ключ": 2122343024 % 6, "🔑": 2080712807 % 6, "": 275646681 % 6}


def test_keys_starting_with_a_dash_after_double_dash() -> None:
    code, out, _ = invoke("--partitions", "6", "--", "-k", "--json")
    assert code == 0
    assert [line.split("\t")[0] for line in out.splitlines()] == ["-k", "--json"]


@pytest.mark.parametrize("bad", ["0", "-3"])
def test_partitions_below_one_exit_2_with_one_clear_line(bad: str) -> None:
    code, out, err = invoke(f"--partitions={bad}", "k0")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "--partitions must be at least 1" in err
    assert bad in err
    assert "Traceback" not in err


def test_missing_partitions_or_keys_is_an_argparse_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = make_parser()
    for argv in (["k0"], ["--partitions", "6"], ["--partitions", "six", "k0"]):
        with pytest.raises(SystemExit) as excinfo:
            parser.parse_args(argv)
        assert excinfo.value.code == 2
    assert "usage:" in capsys.readouterr().err
