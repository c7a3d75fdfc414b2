-- wrk script of bench/bench_serve.sh: POST /v1/assign of a random known user
-- (known-000000 … known-(KNOWN-1), assigned before the run) to experiment sb.
-- Usage: wrk -s bench/serve_assign.lua URL -- KNOWN
local known = 10000
function init(args)
  known = tonumber(args[1]) or known
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
  local body = string.format('{"experiment":"sb","user_id":"known-%06d"}', math.random(0, known - 1))
  return wrk.format(nil, "/v1/assign", nil, body)
end
