"""`python -m tools.musicbrainz_sim --port 8767 [--catalog CSV] [--latency-ms N]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from tools.musicbrainz_sim.server import MusicBrainzSettings, SimServer


def main() -> None:
    parser = argparse.ArgumentParser(description="MusicBrainz and Cover Art Archive simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--error-ratio", type=float, default=0.0)
    parser.add_argument("--rate-per-sec", type=float, default=1.0, help="ws/2 calls per client")
    parser.add_argument("--catalog", type=Path, default=None, help="CSV: Artist, Album, Year")
    args = parser.parse_args()
    settings = MusicBrainzSettings(
        latency_ms=args.latency_ms, error_ratio=args.error_ratio, rate_per_sec=args.rate_per_sec
    )
    server = SimServer(settings, host=args.host, port=args.port, catalog_csv=args.catalog)
    print(f"MusicBrainz simulator on {server.url} (API {server.api_base}, CAA {server.caa_base})")
    server.start()
    try:
        server.join()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
