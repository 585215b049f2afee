"""`python -m tools.musicbrainz_sim --port 8767 [--catalog CSV] [--latency-ms N]`."""

from __future__ import annotations

from tools import sim_common
from tools.musicbrainz_sim.server import MusicBrainzSettings, SimServer


def main() -> None:
    parser = sim_common.parser(
        "MusicBrainz and Cover Art Archive simulator", port=8767, catalog_help=sim_common.CSV
    )
    parser.add_argument("--rate-per-sec", type=float, default=1.0, help="ws/2 calls per client")
    sim_common.serve(parser, SimServer, MusicBrainzSettings, _banner)


def _banner(sim: SimServer) -> str:
    return f"MusicBrainz simulator on {sim.url} (API {sim.api_base}, CAA {sim.caa_base})"


if __name__ == "__main__":
    main()
