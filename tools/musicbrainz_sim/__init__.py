"""A local server speaking the MusicBrainz ws/2 release-group search and the Cover Art Archive.

Release-group search (Lucene-ish queries, scores, look-alike decoys) and lookup under
/ws/2/, with MusicBrainz's User-Agent rule (403) and one-request-per-second limit (503);
CAA front images under /caa/ (307 to an image host under /ia/, or 404 for a group
without art). Every call is recorded so callers can count them.
"""

from tools.musicbrainz_sim.server import MusicBrainzSettings, SimServer

__all__ = ["MusicBrainzSettings", "SimServer"]
