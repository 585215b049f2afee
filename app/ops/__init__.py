"""Operations: counters, the stats report (`flask cache-stats`), `/metrics` and `/healthz`."""
