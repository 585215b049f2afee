"""`python -m tools.deezer_sim --port 8766 [--catalog data/sample_albums.csv] [--latency-ms N]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from tools.deezer_sim.server import DeezerSettings, SimServer


def main() -> None:
    parser = argparse.ArgumentParser(description="Deezer API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--error-ratio", type=float, default=0.0)
    parser.add_argument("--window-limit", type=int, default=50, help="calls per window")
    parser.add_argument("--window-seconds", type=float, default=5.0)
    parser.add_argument("--catalog", type=Path, default=None, help="CSV: Artist, Album, Year")
    args = parser.parse_args()
    settings = DeezerSettings(
        latency_ms=args.latency_ms,
        error_ratio=args.error_ratio,
        window_limit=args.window_limit,
        window_seconds=args.window_seconds,
    )
    server = SimServer(settings, host=args.host, port=args.port, catalog_csv=args.catalog)
    print(f"Deezer simulator on {server.url} (search {server.url}search/album?q=...)")
    server.start()
    try:
        server.join()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
