-- Authorization-code exchange: each request redeems the next pre-minted code of this
-- thread's share of BENCH_FILE (codes are single use). When a thread runs out it stops, and
-- reports it ("exhausted"); wrk then divides by the time it actually ran.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
local codes, next_code = nil, 1
local prefix = os.getenv("BENCH_BODY") -- grant_type=authorization_code&redirect_uri=…&code_verifier=…
local headers = {
  ["Content-Type"] = "application/x-www-form-urlencoded",
  ["Authorization"] = os.getenv("BENCH_AUTH"),
}
exhausted = 0

function init(args)
  codes = my_lines(os.getenv("BENCH_FILE"))
end

function request()
  local code = codes[next_code]
  if code == nil then
    exhausted = 1
    wrk.thread:stop()
    code = "pc_ac_exhausted"
  end
  next_code = next_code + 1
  return wrk.format("POST", nil, headers, prefix .. "&code=" .. code)
end
