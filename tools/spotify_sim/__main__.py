"""`python -m tools.spotify_sim --port 8765 [--latency-ms 150] [--mode extended]`."""

from __future__ import annotations

from tools import sim_common
from tools.spotify_sim.server import SimServer
from tools.spotify_sim.state import SimSettings


def main() -> None:
    parser = sim_common.parser(
        "Spotify Web API simulator", port=8765, catalog_help="CSV with Spotify links"
    )
    parser.add_argument("--mode", choices=["development", "extended"], default="development")
    parser.add_argument("--window-limit", type=int, default=None, help="calls per 30 s")
    sim_common.serve(parser, SimServer, SimSettings, _banner)


def _banner(sim: SimServer) -> str:
    return f"Spotify simulator on {sim.url} (API {sim.api_base}, token {sim.token_url})"


if __name__ == "__main__":
    main()
