-- wrk: POST a JSON body with the headers the caller sets in WRK_HEADERS
-- ("Name: value" lines) and WRK_BODY; with WRK_RANDOM_IP, each request claims one of
-- 16 million client addresses in X-Forwarded-For (a trusted proxy's header, as
-- configured for the run).
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY") or "{}"
wrk.headers["Content-Type"] = "application/json"
for line in (os.getenv("WRK_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then wrk.headers[name] = value end
end
local random_ip = os.getenv("WRK_RANDOM_IP") ~= nil

function request()
  if random_ip then
    wrk.headers["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(0, 255))
  end
  return wrk.format()
end
