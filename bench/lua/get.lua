-- A fixed GET, with Authorization: BENCH_AUTH when set.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
