"""`make run`: bring the whole app up on embedded defaults.

Migrates the database, imports the sample catalog on first start, starts an
embedded Redis when REDIS_URL is unset and the Spotify simulator when no Spotify
credentials are set, then runs web + worker from the Procfile with honcho at
http://127.0.0.1:5000. Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dotenv import load_dotenv
from sqlalchemy import func, select

from app import create_app
from app.extensions import db
from app.models import Album
from tools import embedded_redis
from tools.spotify_sim import SimServer, SimSettings

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample_albums.csv"
PORT = int(os.environ.get("PORT", "5000"))


def flask(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], check=True, cwd=ROOT)


def catalog_is_empty() -> bool:
    app = create_app()
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(Album)).scalar_one() == 0


def start_simulator() -> SimServer:
    """The Spotify simulator in this process, with Spotify-like latency, wired via env."""
    port = int(os.environ.get("SPOTIFY_SIM_PORT", "0")) or embedded_redis.free_port()
    sim = SimServer(SimSettings(latency_ms=150), port=port, catalog_csv=SAMPLE).start()
    origin = sim.url.rstrip("/")
    defaults = {
        "SPOTIFY_CLIENT_ID": "sim-client",
        "SPOTIFY_CLIENT_SECRET": "sim-secret",
        "SPOTIFY_API_BASE": sim.api_base,
        "SPOTIFY_TOKEN_URL": sim.token_url,
        "SPOTIFY_IMAGE_HOSTS": f"i.scdn.co,{origin}",
        "SPOTIFY_RATE_PER_SEC": "10",
        "SPOTIFY_BURST": "20",
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    print(f"no Spotify credentials: using the Spotify simulator at {sim.url}")
    return sim


def main() -> int:
    os.chdir(ROOT)
    load_dotenv(ROOT / ".env")
    redis_process = None
    if not os.environ.get("REDIS_URL"):
        redis_process, url = embedded_redis.start(ROOT / "instance" / "redis")
        os.environ["REDIS_URL"] = url
        print(f"embedded Redis at {url}")
    simulator = None
    if not os.environ.get("SPOTIFY_CLIENT_ID"):
        simulator = start_simulator()
    try:
        flask("db", "upgrade")
        if catalog_is_empty():
            print(f"first start: importing the sample catalog {SAMPLE.name}")
            flask("import-albums", "--csv", str(SAMPLE))
        env = os.environ | {
            # The Procfile's gunicorn and celery live next to this interpreter.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{PORT} --workers 2 --threads 4 "
            "--access-logfile -",
        }
        print(f"Album Catalog: http://127.0.0.1:{PORT}/  (Ctrl-C stops everything)")
        return subprocess.run(
            [sys.executable, "-m", "honcho", "start", "-f", "Procfile"], env=env, check=False
        ).returncode
    except KeyboardInterrupt:
        return 0
    except subprocess.CalledProcessError as exc:
        return exc.returncode
    finally:
        if simulator is not None:
            simulator.stop()
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
