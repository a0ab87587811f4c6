"""Hypothesis strategies that generate fault schedules in the scenario format.

A schedule is a list of ``faults:`` entries (plain dicts, as a scenario file holds them)
made of *episodes*: a broker crash and its restart, a cut and its heal, a slow link and
its restore, lost messages (``drop``), or a client process frozen for a while (``pause``);
on request, a broker's power loss or disk loss and its restart. Every episode ends by ``quiet_from_ms``, so a run
has time to settle afterwards (a ``drop`` needs up to ``max_drop`` request timeouts more:
its dead connection is noticed only at the client's deadline): that is when guarantees such as "no acknowledged record
lost" and "every live replica holds the leader's log" must hold. Hypothesis shrinks a
failing schedule towards fewer, earlier, simpler episodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

__all__ = ["DATA_LOSS_KINDS", "EPISODE_KINDS", "episodes", "fault_schedules"]

#: what one episode does (``drop`` loses the next messages on a link, with their connection;
#: ``pause`` freezes a client, as a GC pause does)
EPISODE_KINDS = ("crash", "cut", "cut-one-way", "drop", "slow", "pause")
#: episodes that also destroy a broker's data, then restart it: ``power-loss`` (what was not on
#: disk) and ``disk-loss`` (everything). Not in the default kinds: with overlapping episodes
#: Kafka itself can lose acknowledged records to them (the last ISR replica comes back without
#: them), so a "nothing acknowledged is lost" property does not hold; ask for them by name.
DATA_LOSS_KINDS = ("power-loss", "disk-loss")


@st.composite
def episodes(draw: st.DrawFn, brokers: Sequence[str], clients: Sequence[str], *, start_ms: int,
             quiet_from_ms: int, kinds: Sequence[str] = EPISODE_KINDS,
             max_length_ms: int = 20_000, max_drop: int = 2, controller: str | None = "controller") -> list[dict[str, Any]]:
    """One fault episode: its faults, all between ``start_ms`` and ``quiet_from_ms``. A broker
    can also be cut from the ``controller`` (fenced while it still believes it leads)."""
    kind = draw(st.sampled_from([k for k in kinds if k != "pause" or clients]))
    at = draw(st.integers(start_ms, quiet_from_ms - 1).map(lambda t: t - t % 100))
    end = draw(st.integers(at + 100, min(quiet_from_ms, at + max_length_ms)).map(lambda t: t - t % 100))
    if kind == "pause":
        c = draw(st.sampled_from(list(clients)))
        return [{"at_ms": at, "action": "pause", "target": c, "duration_ms": end - at}]
    if kind in ("crash", *DATA_LOSS_KINDS):
        b = draw(st.sampled_from(list(brokers)))
        return [{"at_ms": at, "action": kind, "target": b}, {"at_ms": end, "action": "restart", "target": b}]
    a = draw(st.sampled_from(list(brokers) + list(clients)))
    if a in clients:
        peers = list(brokers)
    else:
        peers = [n for n in (*brokers, *clients) if n != a] + ([controller] if controller else [])
    chosen = draw(st.lists(st.sampled_from(peers), min_size=1, max_size=len(peers), unique=True))
    chosen = sorted(chosen)
    if kind in ("cut", "cut-one-way"):
        both = kind == "cut"
        return [{"at_ms": at, "action": "cut", "from": a, "to": list(chosen), "both": both},
                {"at_ms": end, "action": "heal", "from": a, "to": list(chosen), "both": both}]
    if kind == "slow":
        extra = draw(st.sampled_from([50, 200, 1000]))
        return [{"at_ms": at, "action": "slow", "from": a, "to": list(chosen), "extra_ms": extra},
                {"at_ms": end, "action": "slow", "from": a, "to": list(chosen), "extra_ms": 0}]
    # each drop kills a connection its client notices only at its deadline (request.timeout.ms,
    # 30 s by default): allow count x 30 s after quiet_from_ms for a run to settle
    return [{"at_ms": at, "action": "drop", "from": a, "to": list(chosen), "count": draw(st.integers(1, max_drop))}]


def fault_schedules(brokers: Sequence[str], clients: Sequence[str] = (), *, start_ms: int = 1_000,
                    quiet_from_ms: int = 30_000, max_episodes: int = 4, kinds: Sequence[str] = EPISODE_KINDS,
                    max_drop: int = 2, controller: str | None = "controller") -> st.SearchStrategy[list[dict[str, Any]]]:
    """Up to ``max_episodes`` episodes over the named brokers and clients, sorted by time."""
    one = episodes(brokers, clients, start_ms=start_ms, quiet_from_ms=quiet_from_ms, kinds=kinds,
                   max_drop=max_drop, controller=controller)
    return st.lists(one, max_size=max_episodes).map(
        lambda eps: sorted((f for ep in eps for f in ep), key=lambda f: f["at_ms"]))
