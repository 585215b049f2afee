"""`make run`: bring the whole app up on embedded defaults.

Migrates the database, imports the sample catalog on first start, starts an
embedded Redis when REDIS_URL is unset and the simulators (Spotify, Deezer,
MusicBrainz + Cover Art Archive) when no Spotify credentials are set, then runs web
and worker from the Procfile with honcho at
http://127.0.0.1:5000. Ctrl-C stops everything; so does a SIGTERM or SIGINT sent to
this process alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

from dotenv import load_dotenv
from sqlalchemy import func, select

from app import create_app
from app.extensions import db
from app.models import Album
from tools import embedded_redis
from tools.deezer_sim import DeezerSettings
from tools.deezer_sim import SimServer as DeezerSim
from tools.musicbrainz_sim import MusicBrainzSettings
from tools.musicbrainz_sim import SimServer as MusicBrainzSim
from tools.spotify_sim import SimServer, SimSettings
from tools.workers import source_env

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample_albums.csv"
PORT = int(os.environ.get("PORT", "5000"))


def flask(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], check=True, cwd=ROOT)


def catalog_is_empty() -> bool:
    app = create_app()
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(Album)).scalar_one() == 0


Simulators = tuple[SimServer, DeezerSim, MusicBrainzSim]


def start_simulators() -> Simulators:
    """The simulators in this process, with real-service latency, wired via env.

    They know the sample catalog's albums (linked ones on Spotify; the rest as
    `tools/source_catalog.py` shares them out between search, Deezer and the Cover Art
    Archive), so rows without a link get covers too."""
    port = int(os.environ.get("SPOTIFY_SIM_PORT", "0")) or embedded_redis.free_port()
    sim = SimServer(SimSettings(latency_ms=150), port=port, catalog_csv=SAMPLE).start()
    deezer = DeezerSim(DeezerSettings(latency_ms=80), catalog_csv=SAMPLE).start()
    musicbrainz = MusicBrainzSim(MusicBrainzSettings(latency_ms=120), catalog_csv=SAMPLE).start()
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
    sources = source_env(deezer.url, musicbrainz.url)
    sources["COVER_CONTACT"] = "make-run@album-catalog.invalid"
    for name, value in (defaults | sources).items():
        os.environ.setdefault(name, value)
    print(
        f"no Spotify credentials: simulators for Spotify at {sim.url}, Deezer at "
        f"{deezer.url}, MusicBrainz and the Cover Art Archive at {musicbrainz.url}"
    )
    return sim, deezer, musicbrainz


class Processes:
    """What `main` started, and how SIGINT and SIGTERM stop it.

    The signals never raise: during start-up they are remembered, and once honcho runs
    they are forwarded to it. Honcho stops web and worker (their own process groups, so
    only honcho can), `main` waits for honcho, then stops the simulator and Redis. So a
    Ctrl-C in the terminal (SIGINT to the whole group) and a SIGTERM or SIGINT sent to
    this process alone both leave nothing running.
    """

    def __init__(self) -> None:
        self.stop_signal: int | None = None
        self.honcho: subprocess.Popen[bytes] | None = None
        self.redis: subprocess.Popen[bytes] | None = None
        self.simulators: Simulators | None = None

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stop_signal = signum
        if self.honcho is not None:
            # Harmless if honcho got the group's SIGINT too: it stops its processes once.
            self.honcho.send_signal(signum)

    def run_honcho(self, env: dict[str, str]) -> int:
        self.honcho = subprocess.Popen(
            [sys.executable, "-m", "honcho", "start", "-f", "Procfile"], env=env
        )
        if self.stop_signal is not None:  # it came while honcho was starting
            self.honcho.send_signal(self.stop_signal)
        return self.honcho.wait()

    def stop(self) -> None:
        """Stop whatever still runs; also when Redis already got the terminal's SIGINT."""
        if self.honcho is not None and self.honcho.poll() is None:
            self.honcho.send_signal(signal.SIGTERM)
            wait_or_kill(self.honcho, "honcho")
        for simulator in self.simulators or ():
            simulator.stop()
        if self.redis is not None:
            self.redis.terminate()  # a no-op if it has exited already
            wait_or_kill(self.redis, "the embedded Redis")


def wait_or_kill(process: subprocess.Popen[bytes], name: str, timeout: float = 30) -> None:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop within {timeout:.0f} s: killing it", file=sys.stderr)
        process.kill()
        process.wait()


def main() -> int:
    os.chdir(ROOT)
    load_dotenv(ROOT / ".env")
    processes = Processes()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, processes.on_signal)
    try:
        if not os.environ.get("REDIS_URL"):
            processes.redis, url = embedded_redis.start(ROOT / "instance" / "redis")
            os.environ["REDIS_URL"] = url
            print(f"embedded Redis at {url}")
        if not os.environ.get("SPOTIFY_CLIENT_ID"):
            processes.simulators = start_simulators()
        flask("db", "upgrade")
        if processes.stop_signal is None and catalog_is_empty():
            print(f"first start: importing the sample catalog {SAMPLE.name}")
            flask("import-albums", "--csv", str(SAMPLE))
        if processes.stop_signal is not None:  # stopped while starting: start no more
            return 0
        env = os.environ | {
            # The Procfile's gunicorn and celery live next to this interpreter.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            # gunicorn.conf.py decides workers, threads and logs, as in production; here
            # only where it listens (and two processes, whatever the core count).
            "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{PORT} --no-control-socket",
            "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "2"),
        }
        print(f"Album Catalog: http://127.0.0.1:{PORT}/  (Ctrl-C stops everything)")
        returncode = processes.run_honcho(env)
        return 0 if processes.stop_signal is not None else returncode
    except subprocess.CalledProcessError as exc:
        # A migration or the import failed, or the group's Ctrl-C interrupted it.
        return 0 if processes.stop_signal is not None else exc.returncode
    finally:
        processes.stop()


if __name__ == "__main__":
    sys.exit(main())
