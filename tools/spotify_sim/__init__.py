"""A local server speaking the parts of the Spotify Web API this project uses.

For tests, benchmarks and the demo: deterministic albums, development/extended
mode, a rolling-window rate limit, and switches for latency, errors, forced 429s
and quota exhaustion. Every call is recorded so callers can count them.
"""

from tools.spotify_sim.server import SimServer
from tools.spotify_sim.state import SimSettings

__all__ = ["SimServer", "SimSettings"]
