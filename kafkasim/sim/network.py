"""The network: nodes on a networkx graph, TCP-like connections over links that can be cut and healed.

Kafka's clients and brokers talk over TCP connections, and kafkasim keeps TCP's promises:

- A :class:`Connection` is opened by a client to a server (on a ``channel``: the Java
  consumer keeps its group coordinator on a connection of its own). Requests go one way on
  it and responses come back on it, each way in the order they were sent.
- A cut link *stalls*, it does not lose: what is in flight or sent into the cut waits (TCP
  retransmits) and arrives, in order, soon after the link heals - unless its connection was
  closed meanwhile. A client notices a stall only through its own request deadline, closes
  the connection (everything still undelivered on it is gone, both ways) and reconnects.
- A connection can die silently (``drop``: a middlebox forgets it; this message and every
  later one on it are lost, nobody is told until a deadline passes) or be reset (an RST,
  e.g. when the server's process dies: the client hears of it one latency later, after the
  bytes already on their way).
- A crash closes the process's connections: nothing sent to the old incarnation arrives
  at the new one; bytes the dead process had already sent still arrive.

Cuts are per direction: a follower that cannot fetch from its leader while the producer
still reaches that leader is the classic acks=1 loss.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from heapq import heappush
from typing import TYPE_CHECKING, Any

from simpy.core import NORMAL

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
    drop_next: int = 0  # the next messages kill their connection (a lost response)
    drop_reset: bool = False  # ... with an RST the client hears of (else silently)
    last_arrival: int = 0  # FIFO: nothing overtakes an earlier message on the link (TCP order)
    backlog: deque = field(default_factory=deque)  # stalled by a cut, delivered in order on heal
    draining: bool = False


@dataclass
class Node:
    """A process on the network (a broker, the controller, a client)."""

    name: str
    kind: str
    alive: bool = True
    incarnation: int = 0


@dataclass(eq=False)
class Connection:
    """One TCP connection from ``client`` to ``server`` (Kafka: a ``KafkaChannel``).

    ``dead``: it died silently; what is sent on it from now on is lost. ``open`` false: closed
    (locally, or by a reset that arrived); nothing undelivered on it arrives any more.
    """

    client: str
    server: str
    channel: str
    client_inc: int
    server_inc: int
    ready_at: int = 0  # established: not before the client's reconnect backoff has passed
    open: bool = True
    dead: bool = False
    on_reset: Callable[[Connection], None] | None = None  # the client's handler for an RST (given the connection)


#: the channel of traffic no client tracks (broker heartbeats, metadata pushes, markers)
UNTRACKED = "untracked"


class Reply:
    """Where to send a response: the callback a request carries, bound to its connection.

    A server answers by ``net.send(server, client, reply, ...)``; the answer travels back on
    the connection the request came on, and is lost if that connection has closed since.
    """

    __slots__ = ("conn", "fn")

    def __init__(self, conn: Connection, fn: Callable[..., Any]) -> None:
        self.conn, self.fn = conn, fn

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)


class Network:
    """Nodes, directed links and connections; delivery with latency, cuts, resets and crashes.

    Kafka: TCP connections between clients, brokers and the controller quorum.
    Simplified: no bandwidth limit and no handshake (a connection is usable at once, or after
    the client's reconnect backoff); a stalled message waits however long the cut lasts.
    """

    def __init__(self, world: World, default_latency: Latency | None = None) -> None:
        self.world = world
        import networkx as nx  # here, not at import: readers of a saved trace never build a network

        self.graph = nx.DiGraph()
        self.default_latency = default_latency or Latency()
        self._nodes: dict[str, Node] = {}
        self._links: dict[tuple[str, str], Link] = {}
        self._rng = world.rng("network")
        self._conns: dict[tuple[str, str, str], Connection] = {}  # the current one per client/server/channel
        self.paused: dict[str, Any] = {}  # client node -> its Pause (kafkasim.sim.pause): what it has not read

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
        """Cut the link a -> b (and b -> a unless ``both`` is false): messages on it stall."""
        self._links[(a, b)].up = False
        if both:
            self._links[(b, a)].up = False
        self.world.emit("net.cut", a, peer=b, both=both)

    def heal(self, a: str, b: str, *, both: bool = True) -> None:
        """Heal the link: what stalled on it arrives, in order, one latency later."""
        self._restore(a, b)
        if both:
            self._restore(b, a)
        self.world.emit("net.heal", a, peer=b, both=both)

    def _restore(self, a: str, b: str) -> None:
        link = self._links[(a, b)]
        link.up = True
        if link.backlog and not link.draining:
            link.draining = True
            arrival = max(self.world.env.now + self._delay(link), link.last_arrival)
            link.last_arrival = arrival
            self.world.env.timeout(arrival - self.world.env.now).callbacks.append(
                lambda _ev: self._drain(link))

    def _drain(self, link: Link) -> None:
        link.draining = False
        backlog = link.backlog
        while backlog and link.up:
            backlog.popleft()()

    def slow(self, a: str, b: str, extra_ms: int, *, both: bool = True) -> None:
        """Add ``extra_ms`` of delay to the link (0 restores it)."""
        self._links[(a, b)].extra_ms = extra_ms
        if both:
            self._links[(b, a)].extra_ms = extra_ms
        self.world.emit("net.slow", a, peer=b, extra_ms=extra_ms, both=both)

    def drop(self, a: str, b: str, count: int, *, reset: bool = False) -> None:
        """The next ``count`` messages from a to b are lost, each with the connection it is on:
        the connection dies silently (its client notices at its request deadline), or with
        ``reset`` the client hears an RST one latency later. TCP loses nothing else."""
        link = self._links[(a, b)]
        link.drop_next += count
        link.drop_reset = reset
        self.world.emit("net.drop", a, peer=b, count=count, reset=reset)

    def crash(self, name: str) -> None:
        """The process dies; its OS resets every connection it served (an RST to each client)."""
        node = self._nodes[name]
        node.alive = False
        node.incarnation += 1
        self.paused.pop(name, None)  # a dead process is not paused: what it held is gone with it
        for conn in list(self._conns.values()):
            if conn.server == name and conn.open and not conn.dead:
                self._reset(conn)

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

    # -- connections ----------------------------------------------------------------------
    def connect(self, client: str, server: str, channel: str = "", *, ready_at: int = 0,
                on_reset: Callable[[Connection], None] | None = None) -> Connection | None:
        """Open a connection; None if either process is down (connection refused)."""
        c, s = self._nodes[client], self._nodes[server]
        if not (c.alive and s.alive):
            return None
        conn = Connection(client, server, channel, c.incarnation, s.incarnation, ready_at, on_reset=on_reset)
        self._conns[(client, server, channel)] = conn
        return conn

    def usable(self, conn: Connection) -> bool:
        """Whether the client may still send on ``conn`` (it cannot tell a silent death)."""
        return (conn.open and self._nodes[conn.client].incarnation == conn.client_inc
                and self._nodes[conn.server].incarnation == conn.server_inc)

    def close(self, conn: Connection) -> None:
        """The client closes the connection (a deadline passed): nothing more arrives on it."""
        conn.open = False
        if self._conns.get((conn.client, conn.server, conn.channel)) is conn:
            del self._conns[(conn.client, conn.server, conn.channel)]

    def _reset(self, conn: Connection) -> None:
        """An RST from the server's side: it reaches the client after what is already on the wire."""
        conn.dead = True
        self._schedule(conn, self._nodes[conn.client], self._links[(conn.server, conn.client)],
                       self._reset_arrived, (conn,), conn.client_inc)

    def _reset_arrived(self, conn: Connection) -> None:
        if conn.open:
            self.close(conn)
            if conn.on_reset is not None:
                conn.on_reset(conn)

    # -- delivery -------------------------------------------------------------------------
    def send(self, src: str, dst: str, handler: Callable[..., Any], *args: Any) -> bool:
        """Deliver ``handler(*args)`` at ``dst``; False if either process is down (refused).

        A :class:`Reply` handler answers on its request's connection. Any other message goes on
        ``src``'s current connection to ``dst`` (traffic without deadlines: broker to controller,
        controller to broker); a connection that died under it is replaced at once.
        """
        s = self._nodes[src]
        d = self._nodes[dst]
        if not (s.alive and d.alive):
            return False  # connection refused: the process is not running
        if type(handler) is Reply:
            return self.transmit_reply(handler.conn, handler.fn, args)
        conn = self._conns.get((src, dst, UNTRACKED))
        if conn is None or conn.dead or not self.usable(conn):
            conn = self.connect(src, dst, UNTRACKED)
        return self.request(conn, handler, args)

    def request(self, conn: Connection, handler: Callable[..., Any], args: tuple) -> bool:
        """Send ``handler(*args)`` from the client to the server of ``conn``."""
        if conn.dead:
            return True  # into a connection that died silently: the sender cannot tell
        link = self._links[(conn.client, conn.server)]
        if link.drop_next:
            return self._lose(conn, link)
        return self._schedule(conn, self._nodes[conn.server], link, handler, args, conn.server_inc)

    def transmit_reply(self, conn: Connection, handler: Callable[..., Any], args: tuple) -> bool:
        if conn.dead or not conn.open:
            return True  # lost with its connection: the server cannot tell
        link = self._links[(conn.server, conn.client)]
        if link.drop_next:
            return self._lose(conn, link)
        return self._schedule(conn, self._nodes[conn.client], link, handler, args, conn.client_inc)

    def _delay(self, link: Link) -> int:
        return link.latency.sample(self._rng) + link.extra_ms

    def _lose(self, conn: Connection, link: Link) -> bool:
        """The message is one of the link's ``drop_next``: lost, and its connection with it."""
        link.drop_next -= 1
        if link.drop_reset:
            self._reset(conn)
        else:
            conn.dead = True
        return True  # sent, and lost on the way with its connection: the sender cannot tell

    def _schedule(self, conn: Connection, d: Node, link: Link, handler: Callable[..., Any], args: tuple,
                  d_inc: int) -> bool:
        env = self.world.env
        now = env._now
        arrival = now + self._delay(link)
        if arrival < link.last_arrival:
            arrival = link.last_arrival
        if arrival < conn.ready_at:
            arrival = conn.ready_at
        link.last_arrival = arrival
        # the delivery is its own simpy event, queued as env.timeout(arrival - now) would be (same id)
        heappush(env._queue, (arrival, NORMAL, next(env._eid), _Delivery(self, conn, d, link, handler, args, d_inc)))
        return True


class _Delivery:
    """One message on the wire to ``d``: it arrives at its time, is held by a cut or a pause, and
    is handled if its connection still stands. (A plain object, not a closure that names itself:
    that would be a reference cycle per message, freed only by the cyclic collector.)

    It is also the simpy event that brings it: simpy's ``step`` reads an event's ``callbacks``
    and ``_ok`` only, and calls each callback with the event, so ``callbacks`` holds the plain
    function :meth:`arrive` (no bound method: no cycle) and simpy calls ``arrive(delivery)``.
    """

    __slots__ = ("net", "conn", "d", "link", "handler", "args", "d_inc", "callbacks")
    _ok = True  # a triggered, successful event

    def __init__(self, net: Network, conn: Connection, d: Node, link: Link, handler: Callable[..., Any],
                 args: tuple, d_inc: int) -> None:
        self.net, self.conn, self.d, self.link, self.handler, self.args, self.d_inc = (
            net, conn, d, link, handler, args, d_inc)
        self.callbacks = [_Delivery.arrive]

    def arrive(self) -> None:
        link = self.link
        if not link.up or link.backlog:
            link.backlog.append(self)  # stalled: the cut holds it, or earlier stalled bytes
            return
        self()

    def __call__(self) -> None:
        # bytes already on the wire arrive even if the sender died meanwhile; a receiver that
        # died (or restarted) has lost the connection they were sent on
        d, paused = self.d, self.net.paused
        if paused and d.name in paused:
            paused[d.name].deliveries.append(self)  # in its socket buffer until it resumes
            return
        if self.conn.open and d.incarnation == self.d_inc and d.alive:
            self.handler(*self.args)
