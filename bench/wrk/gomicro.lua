-- wrk script: go-micro's own unary request (gomicro-wire.md §4.11: POST / with the Micro-*
-- headers a go-micro v5 client sends), the bench greeter's call. Every reply is checked:
-- a reply that is not a 200 with the greeting in its body (a go-micro error comes back as a
-- 200 with Micro-Error and no body) is counted, and done() prints the count as the last
-- line, `{"bad":N}`, for bench/run.sh to read. WRK_EXPECT replaces the greeting (the hyper
-- floor echoes the request: `"name":"bench"`).
wrk.method = "POST"
wrk.body = '{"name":"bench"}\n'
wrk.headers["Accept"] = "application/json"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Micro-Endpoint"] = "Greeter.Hello"
wrk.headers["Micro-Id"] = "0"
wrk.headers["Micro-Method"] = "Greeter.Hello"
wrk.headers["Micro-Service"] = "greeter"
wrk.headers["Timeout"] = "5000000000"

local threads = {}
local expect = os.getenv("WRK_EXPECT") or "Hello bench"

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, expect, 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + t:get("bad")
  end
  io.write(string.format('{"bad":%d}\n', total))
end
