"""The background fetcher: what happens after a cache miss.

Celery tasks (`tasks`), the fetch job (`fetch`, `batch`, `job`), the per-album leases
(`claims`), the write path (`store`), the Spotify service of a worker process
(`service`), the heartbeat, queueing a fetch (`queue`) and `flask refresh-cache` (`cli`).
No Flask app is created when any of it is imported.
"""
