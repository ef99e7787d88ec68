-- Introspection of a different token each request, drawn at random from this thread's share
-- of BENCH_FILE (tokens seeded into the database), so lookups go to the database rather than
-- a cache.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
local tokens = nil
local headers = {
  ["Content-Type"] = "application/x-www-form-urlencoded",
  ["Authorization"] = os.getenv("BENCH_AUTH"),
}

function init(args)
  tokens = my_lines(os.getenv("BENCH_FILE"))
  math.randomseed(os.time() + tid)
end

function request()
  local t = tokens[math.random(#tokens)]
  return wrk.format("POST", nil, headers, "token_type_hint=access_token&token=" .. t)
end
