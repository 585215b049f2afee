-- wrk summary for bench/web_bench.py, one machine-readable line:
--   WRK_REPORT {"requests": ..., "rps": ..., "p50_ms": ..., "p95_ms": ..., ...}
-- wrk's own --latency table has no p95. wrk keeps latencies in microseconds.
-- "status" is wrk's count of responses with a status above 399: every answer that
-- is not a 2xx or 3xx. A done() alone adds no per-request Lua work, so wrk's
-- speed (it shares the machine with the server) is unchanged.

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'WRK_REPORT {"requests": %d, "seconds": %.3f, "rps": %.2f, '
      .. '"p50_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, '
      .. '"status": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect, e.read, e.write, e.timeout
  ))
end
