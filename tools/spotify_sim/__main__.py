"""`python -m tools.spotify_sim --port 8765 [--latency-ms 150] [--mode extended]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from tools.spotify_sim.server import SimServer
from tools.spotify_sim.state import SimSettings


def main() -> None:
    parser = argparse.ArgumentParser(description="Spotify Web API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--mode", choices=["development", "extended"], default="development")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--error-ratio", type=float, default=0.0)
    parser.add_argument("--window-limit", type=int, default=None, help="calls per 30 s")
    parser.add_argument("--catalog", type=Path, default=None, help="CSV with Spotify links")
    args = parser.parse_args()
    settings = SimSettings(
        mode=args.mode,
        latency_ms=args.latency_ms,
        error_ratio=args.error_ratio,
        window_limit=args.window_limit,
    )
    server = SimServer(settings, host=args.host, port=args.port, catalog_csv=args.catalog)
    print(f"Spotify simulator on {server.url} (API {server.api_base}, token {server.token_url})")
    server.start()
    try:
        server._thread.join()  # pyright: ignore[reportPrivateUsage]
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
