-- wrk script for bench/run.py:
--   wrk -s bench/wrk.lua URL -- CALL SPREAD LISTS STYLE [statuses]
-- CALL is get, list, notes (GET /tasknotes?TaskNum=: the mock only), put or post.
-- SPREAD: GET one, notes and PUT pick a TaskNum among the SPREAD tasks from 1000 on
--   (mockserver/generate.py's first TaskNum), so that a larger dataset is read and
--   written over the same number of distinct tasks as a smaller one.
-- LISTS: the list and POST pick a TaskListNum among 1..LISTS (run.py passes all the
--   dataset's lists for the list, and the lists of the SPREAD tasks for POST).
-- STYLE: how the server spells the calls:
--   mock         /api/v1/tasks... (the mock and the baseline app)
--   prism        /tasks... (Prism ignores the server URL of openapi.yaml)
--   json-server  /tasks..., the list as json-server's query: the same filters, the
--                default 14-day window as DateTimeOriginal_gte, and _limit=100
-- statuses: count every answer's status (wrk then reads each response into Lua, which
--   costs wrk time: run.py uses it for the warm-up run only, not the measured ones).
-- Prints one JSON line when done.
local call, spread, lists, style
local first = 1000  -- mockserver/generate.py FIRST_TASKNUM
local prefix = "/api/v1"
local counter = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  call, spread, lists, style = args[1], tonumber(args[2]), tonumber(args[3]), args[4] or "mock"
  if style ~= "mock" then
    prefix = ""
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
  wrk.headers["Authorization"] = "ODFHIR bench/bench"
  wrk.headers["Content-Type"] = "application/json"
  if args[5] == "statuses" then
    statuses = {}  -- a global: done() reads it through thread:get
    response = function(status, headers, body)
      statuses[status] = (statuses[status] or 0) + 1
    end
  end
end

local function list_query()
  local query = "?TaskListNum=" .. math.random(1, lists) .. "&TaskStatus=New"
  if style == "json-server" then
    -- the baseline app's and the mock's default window: DateTimeOriginal in the last 14 days
    local since = os.date("%Y-%m-%d %H:%M:%S", os.time() - 14 * 24 * 3600)
    query = query .. "&DateTimeOriginal_gte=" .. since:gsub(" ", "%%20") .. "&_limit=100"
  end
  return query
end

function request()
  counter = counter + 1
  if call == "get" then
    return wrk.format("GET", prefix .. "/tasks/" .. math.random(first, first + spread - 1))
  elseif call == "list" then
    return wrk.format("GET", prefix .. "/tasks" .. list_query())
  elseif call == "notes" then
    return wrk.format("GET", prefix .. "/tasknotes?TaskNum=" .. math.random(first, first + spread - 1))
  elseif call == "put" then
    return wrk.format("PUT", prefix .. "/tasks/" .. math.random(first, first + spread - 1), nil,
      '{"Descript": "Benchmark edit ' .. counter .. '", "TaskStatus": "Viewed"}')
  else
    return wrk.format("POST", prefix .. "/tasks", nil,
      '{"TaskListNum": ' .. math.random(1, lists) .. ', "Descript": "Benchmark task ' .. counter ..
      '", "UserNum": 1, "ObjectType": "Patient", "KeyNum": 1}')
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local merged, counts = {}, {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses") or {}) do
      merged[status] = (merged[status] or 0) + count
    end
  end
  for status, count in pairs(merged) do
    table.insert(counts, string.format('"%d": %d', status, count))
  end
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"statuses": {%s}}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), table.concat(counts, ", ")))
end
