"""The network: nodes on a networkx graph, links with latency that can be cut and healed.

A message is delivered only if its link is up when it is sent and when it would arrive,
and the receiving node is still the same incarnation that was running when it was sent
(a crash closes every connection; nothing sent before it arrives after a restart).
Cuts are per direction: a follower that cannot fetch from its leader while the producer
still reaches that leader is the classic acks=1 loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import networkx as nx

    from kafkasim.sim.world import World


@dataclass(frozen=True)
class Latency:
    """One-way link latency in ms: ``constant`` at ``min``, or ``uniform`` between min and max."""

    min: int = 1
    max: int = 1
    dist: str = "constant"

    def sample(self, rng: Any) -> int:
        if self.dist == "constant" or self.max <= self.min:
            return self.min
        return rng.randint(self.min, self.max)


@dataclass
class Link:
    """A directed link's state: up or cut, latency, extra delay (slow link), drop rules."""

    up: bool = True
    latency: Latency = field(default_factory=Latency)
    extra_ms: int = 0
    drop_next: int = 0  # drop this many further messages (lost responses)
    last_arrival: int = 0  # FIFO: nothing overtakes an earlier message on the link (TCP order)


@dataclass
class Node:
    """A process on the network (a broker, the controller, a client)."""

    name: str
    kind: str
    alive: bool = True
    incarnation: int = 0


class Network:
    """Nodes and directed links; delivery with latency, cuts and crashes.

    Kafka: TCP connections between clients, brokers and the controller quorum.
    Simplified: no bandwidth limit; a message is one unit, dropped or delivered whole.
    """

    def __init__(self, world: World, default_latency: Latency | None = None) -> None:
        self.world = world
        import networkx as nx  # here, not at import: readers of a saved trace never build a network

        self.graph = nx.DiGraph()
        self.default_latency = default_latency or Latency()
        self._nodes: dict[str, Node] = {}
        self._links: dict[tuple[str, str], Link] = {}
        self._rng = world.rng("network")
        self._on_disconnect: dict[str, list[Callable[[str], None]]] = {}

    # -- topology -------------------------------------------------------------------------
    def add_node(self, name: str, kind: str) -> Node:
        if name in self._nodes:
            raise ValueError(f"duplicate node name {name!r}")
        node = Node(name, kind)
        self._nodes[name] = node
        self.graph.add_node(name, kind=kind, node=node)
        for other in self._nodes:
            if other != name:
                self._link(name, other)
                self._link(other, name)
        return node

    def _link(self, a: str, b: str) -> Link:
        link = Link(latency=self.default_latency)
        self._links[(a, b)] = link
        self.graph.add_edge(a, b, link=link)
        return link

    def has_node(self, name: str) -> bool:
        return name in self._nodes

    def node(self, name: str) -> Node:
        return self._nodes[name]

    def nodes(self, kind: str | None = None) -> list[str]:
        return [n for n, node in self._nodes.items() if kind is None or node.kind == kind]

    def link(self, a: str, b: str) -> Link:
        return self._links[(a, b)]

    def set_latency(self, a: str, b: str, latency: Latency) -> None:
        self._links[(a, b)].latency = latency

    # -- faults ---------------------------------------------------------------------------
    def cut(self, a: str, b: str, *, both: bool = True) -> None:
        """Cut the link a -> b (and b -> a unless ``both`` is false)."""
        self._links[(a, b)].up = False
        if both:
            self._links[(b, a)].up = False
        self.world.emit("net.cut", a, peer=b, both=both)

    def heal(self, a: str, b: str, *, both: bool = True) -> None:
        self._links[(a, b)].up = True
        if both:
            self._links[(b, a)].up = True
        self.world.emit("net.heal", a, peer=b, both=both)

    def slow(self, a: str, b: str, extra_ms: int, *, both: bool = True) -> None:
        """Add ``extra_ms`` of delay to the link (0 restores it)."""
        self._links[(a, b)].extra_ms = extra_ms
        if both:
            self._links[(b, a)].extra_ms = extra_ms
        self.world.emit("net.slow", a, peer=b, extra_ms=extra_ms, both=both)

    def drop(self, a: str, b: str, count: int) -> None:
        """Silently lose the next ``count`` messages from a to b (e.g. produce responses)."""
        self._links[(a, b)].drop_next += count
        self.world.emit("net.drop", a, peer=b, count=count)

    def on_disconnect(self, name: str, callback: Callable[[str], None]) -> None:
        """Call ``callback(peer)`` at node ``name`` when a peer's process dies and its OS closes
        the connections (the reset reaches ``name`` one link latency later, if the link is up)."""
        self._on_disconnect.setdefault(name, []).append(callback)

    def crash(self, name: str) -> None:
        node = self._nodes[name]
        node.alive = False
        node.incarnation += 1
        for other, callbacks in self._on_disconnect.items():
            link = self._links.get((name, other))
            if other == name or link is None or not link.up or not self._nodes[other].alive:
                continue
            inc = self._nodes[other].incarnation
            delay = link.latency.sample(self._rng) + link.extra_ms
            for cb in callbacks:
                self.world.at(delay, self._notify, other, inc, cb, name)

    def _notify(self, node: str, inc: int, cb: Callable[[str], None], peer: str) -> None:
        n = self._nodes[node]
        if n.alive and n.incarnation == inc:
            cb(peer)

    def restart(self, name: str) -> None:
        node = self._nodes[name]
        node.alive = True
        node.incarnation += 1

    def reachable(self, a: str, b: str) -> bool:
        """Whether a message from a would reach b now (both alive, link up)."""
        return self._nodes[a].alive and self._nodes[b].alive and self._links[(a, b)].up

    def reachable_graph(self) -> nx.DiGraph:
        """The subgraph of live nodes and links that are up (for reports and plots)."""
        live = [n for n, node in self._nodes.items() if node.alive]
        import networkx as nx

        view = nx.subgraph_view(
            self.graph, filter_node=lambda n: n in live, filter_edge=lambda a, b: self._links[(a, b)].up
        )
        return nx.DiGraph(view)

    # -- delivery -------------------------------------------------------------------------
    def send(self, src: str, dst: str, handler: Callable[..., Any], *args: Any) -> bool:
        """Deliver ``handler(*args)`` at ``dst`` after the link's latency; False if ``dst`` is down.

        Messages on one link arrive in the order they were sent (a connection is a TCP stream).
        A cut link is a black hole: the send "succeeds" and the message is never delivered, as
        the sender of a packet into a partition cannot tell. A message in flight is lost if the
        link is cut or the receiver crashes before it arrives; one whose sender crashed after
        sending it still arrives (it was already on the wire).
        """
        s = self._nodes[src]
        d = self._nodes[dst]
        link = self._links[(src, dst)]
        if not (s.alive and d.alive):
            return False  # connection refused: the process is not running
        if not link.up:
            return True
        if link.drop_next:
            link.drop_next -= 1
            return True  # sent, and lost on the way: the sender cannot tell
        now = self.world.env.now
        arrival = max(now + link.latency.sample(self._rng) + link.extra_ms, link.last_arrival)
        link.last_arrival = arrival
        delay = arrival - now
        d_inc = d.incarnation

        def deliver(_ev: Any) -> None:
            # bytes already on the wire arrive even if the sender died meanwhile; a receiver that
            # died (or restarted) has lost the connection they were sent on
            if d.incarnation == d_inc and d.alive and link.up:
                handler(*args)

        self.world.env.timeout(delay).callbacks.append(deliver)
        return True
