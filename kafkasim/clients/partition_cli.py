"""``kafkasim partition``: which partition Kafka's default partitioner sends each key to.

Example::

    $ kafkasim partition --partitions 6 k0 k1 k2
    k0	5
    k1	5
    k2	3

Kafka: ``BuiltInPartitioner.partitionForKey`` (keys serialized with ``StringSerializer``).
Simplified: keys are always strings (UTF-8); there is no null key on the command line.
"""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from kafkasim.clients.partitioner import KeyPartitionCache

EXIT_USAGE = 2
"""Exit code for a bad ``--partitions`` value (argparse uses 2 for usage errors too)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the subcommand's options: ``--partitions N``, ``--json`` and ``KEY...``."""
    parser.add_argument(
        "--partitions",
        type=int,
        required=True,
        metavar="N",
        help="number of partitions of the topic (>= 1)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object {"KEY": PARTITION, ...} instead of KEY<TAB>PARTITION lines',
    )
    parser.add_argument(
        "keys",
        nargs="+",
        metavar="KEY",
        help="record key(s), hashed as UTF-8 like Kafka's StringSerializer "
        "(put -- before keys that start with '-')",
    )


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the partition of every key, in the order given; return the exit code."""
    num_partitions: int = args.partitions
    if num_partitions < 1:
        err.write(f"kafkasim partition: --partitions must be at least 1, got {num_partitions}\n")
        return EXIT_USAGE
    cache = KeyPartitionCache(num_partitions)
    pairs = [(key, cache.get(key)) for key in args.keys]
    if args.json:
        out.write(json.dumps(dict(pairs), ensure_ascii=False) + "\n")
    else:
        out.writelines(f"{key}\t{partition}\n" for key, partition in pairs)
    return 0
