"""The simulation substrate: simpy time, seeded randomness, the network and the trace.

Everything that touches simpy or a random stream lives here; the Kafka model asks the
:class:`~kafkasim.sim.world.World` for time, randomness and message delivery.
"""

from kafkasim.sim.network import Network
from kafkasim.sim.trace import Trace, TraceEvent
from kafkasim.sim.world import World

__all__ = ["Network", "Trace", "TraceEvent", "World"]
