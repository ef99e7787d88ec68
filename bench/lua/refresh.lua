-- Refresh-token rotation chains: every response carries the next refresh token, which goes
-- back into this thread's queue; the first requests use seeds from BENCH_FILE (at least one
-- per connection). A failed response breaks its chain; the next seed takes over, and when
-- none is left the thread stops and reports it ("exhausted").
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
local queue, head, tail = {}, 1, 0
local headers = {
  ["Content-Type"] = "application/x-www-form-urlencoded",
  ["Authorization"] = os.getenv("BENCH_AUTH"),
}
exhausted = 0

local function push(t)
  tail = tail + 1
  queue[tail] = t
end

function init(args)
  for _, t in ipairs(my_lines(os.getenv("BENCH_FILE"))) do push(t) end
end

function request()
  local t = queue[head]
  if t == nil then
    exhausted = 1
    wrk.thread:stop()
    t = "pc_rt_exhausted"
  else
    queue[head] = nil
    head = head + 1
  end
  return wrk.format("POST", nil, headers, "grant_type=refresh_token&refresh_token=" .. t)
end

function response(status, headers, body)
  local t = string.match(body, '"refresh_token":"(pc_rt_[^"]+)"')
  if t then push(t) end
end
