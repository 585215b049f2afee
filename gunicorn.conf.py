"""gunicorn's settings, for the Procfile's web process and `make run` alike.

gunicorn reads this file by itself when started from the project folder; the Procfile
names it anyway. Threads, not processes, carry most of the load: a request waits on
PostgreSQL and Redis, never on Spotify (the workers call it), so a few processes of a
few threads each serve far more than one synchronous worker would.

Environment: WEB_CONCURRENCY (processes; default one per core, at least 2),
WEB_THREADS (threads per process, default 4), PORT (gunicorn's own: binds 0.0.0.0:PORT
when set, else 127.0.0.1:8000), WEB_TIMEOUT (seconds, default 30).
"""

import multiprocessing
import os

workers = int(os.environ.get("WEB_CONCURRENCY") or max(2, multiprocessing.cpu_count()))
threads = int(os.environ.get("WEB_THREADS") or 4)
worker_class = "gthread"
# A request is milliseconds; one stuck for this long is killed and its worker replaced.
timeout = int(os.environ.get("WEB_TIMEOUT") or 30)
graceful_timeout = 20  # a deploy waits this long for requests in flight
keepalive = 5  # behind a load balancer that reuses connections
# Recycle workers now and then: a slow leak in any library cannot grow for ever.
max_requests = 5000
max_requests_jitter = 500
accesslog = "-"  # stdout, as a twelve-factor process logs
errorlog = "-"
loglevel = os.environ.get("WEB_LOG_LEVEL", "info")
# Behind a proxy, trust X-Forwarded-* only from where it runs (gunicorn's default: local).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
