"""`make run`: bring the whole app up on embedded defaults.

Migrates the database, imports the sample catalog on first start, starts an
embedded Redis when REDIS_URL is unset, then runs web + worker from the Procfile
with honcho at http://127.0.0.1:5000. Ctrl-C stops everything.
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

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample_albums.csv"
PORT = int(os.environ.get("PORT", "5000"))


def flask(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], check=True, cwd=ROOT)


def catalog_is_empty() -> bool:
    app = create_app()
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(Album)).scalar_one() == 0


def main() -> int:
    os.chdir(ROOT)
    load_dotenv(ROOT / ".env")
    redis_process = None
    if not os.environ.get("REDIS_URL"):
        redis_process, url = embedded_redis.start(ROOT / "instance" / "redis")
        os.environ["REDIS_URL"] = url
        print(f"embedded Redis at {url}")
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
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
