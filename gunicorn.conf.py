"""gunicorn's settings, for the Procfile's web process and `make run` alike.

gunicorn reads this file by itself when started from the project folder; the Procfile
names it anyway. Threads, not processes, carry most of the load: a request waits on
PostgreSQL and Redis, never on Spotify (the workers call it), so a few processes of a
few threads each serve far more than one synchronous worker would.

Environment: WEB_CONCURRENCY (processes; default one per core, at least 2),
WEB_THREADS (threads per process, default 4), PORT (gunicorn's own: binds 0.0.0.0:PORT
when set, else 127.0.0.1:8000), WEB_TIMEOUT (seconds, default 30), WEB_MAX_REQUESTS
(recycle a process after about that many requests; default never).
"""

import multiprocessing
import os
import socket
from typing import Any

workers = int(os.environ.get("WEB_CONCURRENCY") or max(2, multiprocessing.cpu_count()))
threads = int(os.environ.get("WEB_THREADS") or 4)
worker_class = "gthread"
# A request is milliseconds; one stuck for this long is killed and its worker replaced.
timeout = int(os.environ.get("WEB_TIMEOUT") or 30)
graceful_timeout = 20  # a deploy waits this long for requests in flight
keepalive = 5  # behind a load balancer that reuses connections
# No recycling by default (WEB_MAX_REQUESTS=N recycles a process after about N
# requests): at a thousand requests a second, 5,000 meant a new process every few
# seconds, each importing the app again on a busy core, and with reuse_port (below)
# the connections queued at a recycled process are reset. Set it if a leak shows.
max_requests = int(os.environ.get("WEB_MAX_REQUESTS") or 0)
max_requests_jitter = max_requests // 10
accesslog = "-"  # stdout, as a twelve-factor process logs
errorlog = "-"
loglevel = os.environ.get("WEB_LOG_LEVEL", "info")
# Behind a proxy, trust X-Forwarded-* only from where it runs (gunicorn's default: local).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Each process listens on its own socket (SO_REUSEPORT) and the kernel spreads new
# connections over them. With one shared socket, whichever process woke first took
# most of a client's keep-alive connections and served them alone, on one core: the
# same benchmark gave 750 or 1,800 req/s by luck. The price: a process that exits (a
# deploy, a recycle) drops the connections still waiting in its own queue (Linux
# migrates them only with net.ipv4.tcp_migrate_req=1).
reuse_port = True


def on_starting(server: Any) -> None:
    """Refuse an address another server holds: with reuse_port a second `make run` (or
    an old process) would share the port silently instead of failing."""
    for address in server.cfg.address:
        if not isinstance(address, tuple):
            continue  # a unix socket
        host, port = address[0], address[1]
        family = socket.AF_INET6 if ":" in str(host) else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # As gunicorn binds: a port whose last connections linger in TIME_WAIT is
            # free; only a listening socket makes this fail.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
