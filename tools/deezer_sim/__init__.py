"""A local server speaking the parts of the Deezer API a cover fallback uses.

Album search (with look-alike decoys), album lookup and the cover CDN; Deezer's
50-requests-per-5-s window answered as Deezer does (HTTP 200, error code 4); switches
for latency, errors and forced throttling. Every call is recorded so callers can count them.
"""

from tools.deezer_sim.server import DeezerSettings, SimServer

__all__ = ["DeezerSettings", "SimServer"]
