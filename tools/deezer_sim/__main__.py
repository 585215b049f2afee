"""`python -m tools.deezer_sim --port 8766 [--catalog data/sample_albums.csv] [--latency-ms N]`."""

from __future__ import annotations

from tools import sim_common
from tools.deezer_sim.server import DeezerSettings, SimServer


def main() -> None:
    parser = sim_common.parser("Deezer API simulator", port=8766, catalog_help=sim_common.CSV)
    parser.add_argument("--window-limit", type=int, default=50, help="calls per window")
    parser.add_argument("--window-seconds", type=float, default=5.0)
    sim_common.serve(parser, SimServer, DeezerSettings, _banner)


def _banner(sim: SimServer) -> str:
    return f"Deezer simulator on {sim.url} (search {sim.url}search/album?q=...)"


if __name__ == "__main__":
    main()
