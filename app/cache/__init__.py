"""The cache read path: Redis keys and entries, the database row's cache state, the
two-tier lookup and the single-flight "queued" lock. It never calls Spotify and never
imports the worker; the worker imports it."""
