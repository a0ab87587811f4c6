"""A client's connections and the requests in flight on them (Kafka: ``NetworkClient``).

Every request has a deadline. When one passes, the client closes that connection and every
request still in flight on it fails at once (``NetworkClient.handleTimedOutRequests``); an
RST fails them the same way (``handleDisconnections``). The next request opens a new
connection, established only after ``reconnect.backoff.ms``, doubling per consecutive
failure up to ``reconnect.backoff.max.ms`` with 20 % jitter (``ClusterConnectionStates``).
Producers, consumers (with their group coordinator on a channel of its own, as the Java
consumer keeps it), transaction managers and the brokers' replica fetchers all use one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from kafkasim.errors import KafkaError
from kafkasim.errors import KafkaError as E
from kafkasim.sim.network import Connection, Reply

if TYPE_CHECKING:
    from kafkasim.sim.world import Timer, World

RECONNECT_BACKOFF_MS = 50  # Kafka's reconnect.backoff.ms default
RECONNECT_BACKOFF_MAX_MS = 1_000  # reconnect.backoff.max.ms


@dataclass(slots=True, eq=False)
class InFlightRequest:
    """A request awaiting its answer; it is the callback its :class:`Reply` carries back."""

    peer: _Peer
    reply: Callable[..., Any]
    on_error: Callable[[KafkaError], None] | None
    timer: Timer | None = None
    done: bool = False

    def __call__(self, *resp: Any) -> None:
        """The answer arrived (unless the request already timed out or failed)."""
        if self.done:
            return
        self.done = True
        self.timer.cancel()
        peer = self.peer
        peer.inflight.remove(self)
        peer.failures = 0
        self.reply(*resp)


@dataclass(eq=False)
class _Peer:
    """What the client keeps per server and channel (Kafka: ``ClusterConnectionStates`` + ``InFlightRequests``)."""

    conn: Connection | None = None
    inflight: list[InFlightRequest] = field(default_factory=list)
    failures: int = 0  # consecutive connections that ended before an answer came on them
    opened_at: int = -(10**9)  # the last connection attempt
    reconnect_at: int = 0


class NetworkClient:
    """One process's requests: sent on its connections, each answered, timed out or failed."""

    def __init__(self, world: World, name: str, request_timeout_ms: int, *,
                 reconnect_backoff_ms: int = RECONNECT_BACKOFF_MS,
                 reconnect_backoff_max_ms: int = RECONNECT_BACKOFF_MAX_MS) -> None:
        self.world = world
        self.name = name
        self.request_timeout_ms = request_timeout_ms
        self.reconnect_backoff_ms = reconnect_backoff_ms
        self.reconnect_backoff_max_ms = reconnect_backoff_max_ms
        self._peers: dict[tuple[str, str], _Peer] = {}
        self._timers = world.timers()
        self._rng = world.rng(f"reconnect:{name}")

    def send(self, server: str, handler: Callable[..., Any], *args: Any, channel: str = "",
             timeout_ms: int | None = None, on_error: Callable[[KafkaError], None] | None = None) -> bool:
        """Send ``handler(*args)`` to ``server``; False if its process is down (connection refused).

        The (last) callable argument is the response callback, called once with the server's
        answer; with none (acks=0: None) no answer comes. If none arrives within ``timeout_ms`` (default
        request.timeout.ms), or the connection is reset first, ``on_error`` gets
        REQUEST_TIMED_OUT or NETWORK_EXCEPTION instead, and the response will never arrive.
        """
        world = self.world
        net = world.net
        peer = self._peers.get((server, channel))
        if peer is None:
            peer = self._peers[(server, channel)] = _Peer()
        conn = peer.conn
        if conn is None or not net.usable(conn):
            if conn is not None:  # the server restarted: that connection went with its process
                self._fail(peer, E.NETWORK_EXCEPTION, later=True)
            conn = peer.conn = net.connect(self.name, server, channel, ready_at=peer.reconnect_at,
                                           on_reset=partial(self._on_reset, peer))  # no cycle through conn
            if conn is None:
                return False
            peer.opened_at = max(world.now, peer.reconnect_at)  # the attempt, once backed off
        i = len(args) - 1
        while i >= 0 and not callable(args[i]):
            i -= 1
        if i < 0:
            return net.request(conn, handler, args)
        r = InFlightRequest(peer, args[i], on_error)
        reply = Reply(conn, r)
        net.request(conn, handler, (*args[:i], reply, *args[i + 1:]))
        peer.inflight.append(r)
        # the deadline runs from when the request can leave: after the reconnect backoff
        wait = conn.ready_at - world.now
        r.timer = self._timers.add((wait if wait > 0 else 0)
                                   + (self.request_timeout_ms if timeout_ms is None else timeout_ms),
                                   self._timed_out, peer, r)
        return True

    def _timed_out(self, peer: _Peer, r: InFlightRequest) -> None:
        if not r.done:
            self._fail(peer, E.REQUEST_TIMED_OUT)

    def _on_reset(self, peer: _Peer, conn: Connection) -> None:
        if peer.conn is conn:
            self._fail(peer, E.NETWORK_EXCEPTION)

    def _fail(self, peer: _Peer, error: KafkaError, *, later: bool = False) -> None:
        """Close the connection; every request in flight on it fails, in the order sent (``later``:
        their callbacks run as the next event, not inside the caller, as Java's next ``poll()``)."""
        if peer.conn is not None:
            self.world.net.close(peer.conn)
            peer.conn = None
        # Java blacks a node out for the backoff after its last connection *attempt*: a connection
        # that lived long reconnects at once, one that keeps failing waits longer each time
        peer.failures += 1
        exp = min(self.reconnect_backoff_max_ms, self.reconnect_backoff_ms * 2 ** (peer.failures - 1))
        peer.reconnect_at = peer.opened_at + int(exp * self._rng.uniform(0.8, 1.2))
        failed = self._abandon(peer)
        if later:
            self.world.at(0, self._report, failed, error)
        else:
            self._report(failed, error)

    @staticmethod
    def _abandon(peer: _Peer) -> list[InFlightRequest]:
        """Take every request in flight off ``peer``: none will be answered; their deadlines go."""
        failed, peer.inflight = peer.inflight, []
        for r in failed:
            r.done = True
            r.timer.cancel()
        return failed

    @staticmethod
    def _report(failed: list[InFlightRequest], error: KafkaError) -> None:
        for r in failed:
            if r.on_error is not None:
                r.on_error(error)

    def shutdown(self) -> None:
        """The process died: its requests are never answered and nothing is reported (what it had
        already sent still arrives: its OS flushes the bytes before closing the connections)."""
        for peer in self._peers.values():
            self._abandon(peer)
            peer.conn = None

    def disconnect(self, server: str, channel: str = "") -> None:
        """Close the connection to ``server`` now, failing what is in flight (e.g. the coordinator moved)."""
        peer = self._peers.get((server, channel))
        if peer is not None and (peer.conn is not None or peer.inflight):
            self._fail(peer, E.NETWORK_EXCEPTION, later=True)


__all__ = ["NetworkClient", "RECONNECT_BACKOFF_MAX_MS", "RECONNECT_BACKOFF_MS"]
