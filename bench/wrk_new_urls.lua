-- wrk script for bench/web_new_urls.py: every request a URL nobody asked before.
-- Args: a file of paths (one per line, shuffled) and where this run starts in it; thread
-- k of n takes paths start+k, start+k+n, ... so no two requests of a run share a URL.
-- The summary line comes from wrk_report.lua.
dofile("bench/wrk_report.lua")

local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  paths = {}
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  start = tonumber(args[2]) or 0
  stride = tonumber(args[3]) or 1
  n = 0
end

function request()
  local i = (start + id + n * stride) % #paths + 1
  n = n + 1
  return wrk.format("GET", paths[i])
end
