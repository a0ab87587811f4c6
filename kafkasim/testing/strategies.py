"""Hypothesis strategies that generate consumer-group assignment inputs.

Use them to property-test any assignor with the kafkasim interface (``assign(
partitions_per_topic, subscriptions)``), yours or kafkasim's. Sizes are small by default so
a few hundred examples run in seconds; every bound is a parameter.

Kafka: the shapes mirror ``AbstractStickyAssignorTest`` (random subscriptions, owned
partitions from a previous assignment, claims by stale or duplicate members).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from hypothesis import strategies as st

from kafkasim.group.assignors.base import Subscription
from kafkasim.records import TopicPartition

__all__ = [
    "OWNERSHIP_MODES",
    "AssignmentInput",
    "assignment_inputs",
    "member_ids",
    "partitions_per_topic",
    "subscriptions",
    "topic_names",
]

#: Legal topic characters, mixed case and digits so Java's String order matters
#: (``'T1' < 't10' < 't2'``).
TOPIC_ALPHABET = "abtAT0129._-"

#: ``owned=`` values: no ownership; a previous valid assignment; that plus conflicting
#: claims (same-generation duplicates and stale lower-generation members); arbitrary junk.
OWNERSHIP_MODES = ("none", "realistic", "conflicting", "random")


class AssignmentInput(NamedTuple):
    """One assignor input; unpack it as ``assignor.assign(*inp)``."""

    partitions_per_topic: dict[str, int]
    subscriptions: list[Subscription]


def topic_names(max_size: int = 4) -> st.SearchStrategy[str]:
    """Yields short Kafka-legal topic names such as ``"t1"``, ``"T1"``, ``"a.b"``."""
    return st.text(alphabet=TOPIC_ALPHABET, min_size=1, max_size=max_size)


def member_ids(max_size: int = 4) -> st.SearchStrategy[str]:
    """Yields short member ids such as ``"c1"``, ``"C10"`` (uppercase sorts first)."""
    return st.text(alphabet="cC0129-", min_size=1, max_size=max_size)


def partitions_per_topic(min_topics: int = 1, max_topics: int = 4, min_partitions: int = 0,
                         max_partitions: int = 6) -> st.SearchStrategy[dict[str, int]]:
    """Yields ``{topic: partition_count}``; counts of 0 model a topic without partitions."""
    return st.dictionaries(topic_names(), st.integers(min_partitions, max_partitions),
                           min_size=min_topics, max_size=max_topics)


@st.composite
def subscriptions(draw: st.DrawFn, topics: Mapping[str, int] | None = None, *,
                  min_members: int = 1, max_members: int = 5, identical: bool | None = None,
                  static_members: bool = False, owned: str | None = None,
                  missing_topics: bool = True, max_generation: int = 5) -> list[Subscription]:
    """Yields a list of :class:`Subscription` for the topics ``topics`` (drawn if None).

    ``identical``: True gives every member the same topics (sticky's constrained path),
    False independent ones, None either. ``static_members``: some members get a
    ``group_instance_id``. ``owned``: one of :data:`OWNERSHIP_MODES` (None = any of
    none/realistic/conflicting). ``missing_topics``: members may subscribe to topics that
    do not exist. Realistic ownership comes from a previous valid assignment at generation
    g; members absent from it own nothing and have generation -1.
    """
    if topics is None:
        topics = draw(partitions_per_topic())
    mode = owned or draw(st.sampled_from(OWNERSHIP_MODES[:3]))
    if mode not in OWNERSHIP_MODES:
        raise ValueError(f"owned must be one of {OWNERSHIP_MODES}, got {mode!r}")
    ids = draw(st.lists(member_ids(), min_size=min_members, max_size=max_members, unique=True))
    pool = sorted(topics)
    if missing_topics:
        pool += draw(st.lists(topic_names().filter(lambda t: t not in topics), max_size=2))
    subset = st.lists(st.sampled_from(pool), unique=True) if pool else st.just([])
    same = draw(st.booleans()) if identical is None else identical
    if same:
        common = draw(subset)
        topic_lists = [list(common) for _ in ids]
        for lst in topic_lists:  # order within a subscription must not matter
            lst[:] = draw(st.permutations(lst))
    else:
        topic_lists = [draw(subset) for _ in ids]
    instances: list[str | None] = [None] * len(ids)
    if static_members and ids:
        chosen = draw(st.lists(st.booleans(), min_size=len(ids), max_size=len(ids)))
        names = draw(st.lists(st.text("i0129", min_size=1, max_size=3), min_size=len(ids),
                              max_size=len(ids), unique=True))
        instances = [n if c else None for n, c in zip(names, chosen, strict=True)]
    owned_lists, gens = _ownership(draw, mode, topics, len(ids), max_generation)
    return [Subscription(m, tuple(t), tuple(o), g, i) for m, t, o, g, i
            in zip(ids, topic_lists, owned_lists, gens, instances, strict=True)]


def _ownership(draw: st.DrawFn, mode: str, topics: Mapping[str, int], n: int,
               max_generation: int) -> tuple[list[list[TopicPartition]], list[int]]:
    owned: list[list[TopicPartition]] = [[] for _ in range(n)]
    gens = [-1] * n
    if mode == "none" or n == 0:
        return owned, gens
    parts = [TopicPartition(t, p) for t in sorted(topics) for p in range(topics[t])]
    if mode == "random":
        junk = st.tuples(st.sampled_from([*sorted(topics), "gone"]), st.integers(0, 8)).map(
            lambda tp: TopicPartition(*tp))
        owned = [draw(st.lists(junk, max_size=6)) for _ in range(n)]
        gens = [draw(st.integers(-1, max_generation)) for _ in range(n)]
        return owned, gens
    g = draw(st.integers(1, max_generation))
    in_prev = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    # each partition had one owner in generation g: a current member, or one that left (-1)
    owners = draw(st.lists(st.integers(-1, n - 1), min_size=len(parts), max_size=len(parts)))
    for tp, o in zip(parts, owners, strict=True):
        if o >= 0 and in_prev[o]:
            owned[o].append(tp)
    gens = [g if prev else -1 for prev in in_prev]
    previous = [m for m in range(n) if in_prev[m]]
    if previous and draw(st.booleans()):  # a deleted topic still listed as owned
        owned[draw(st.sampled_from(previous))].append(TopicPartition("deleted", 0))
    if mode == "conflicting" and parts:
        for _ in range(draw(st.integers(1, 3))):
            m = draw(st.integers(0, n - 1))
            owned[m].append(draw(st.sampled_from(parts)))
            # a zombie of the same generation, or a stale member of an older one
            gens[m] = draw(st.sampled_from([g, g - 1]))
    for lst in owned:
        lst[:] = draw(st.permutations(lst))
    return owned, gens


@st.composite
def assignment_inputs(draw: st.DrawFn, *, min_topics: int = 1, max_topics: int = 4,
                      max_partitions: int = 6, **kwargs) -> AssignmentInput:
    """Yields :class:`AssignmentInput` ``(partitions_per_topic, subscriptions)``.

    Keyword arguments go to :func:`subscriptions` (``identical``, ``static_members``,
    ``owned``, ``min_members``, ``max_members``, ``missing_topics``, ``max_generation``).
    """
    topics = draw(partitions_per_topic(min_topics, max_topics, 0, max_partitions))
    subs = draw(subscriptions(topics, **kwargs))
    return AssignmentInput(topics, subs)
