-- wrk script for bench/run.py: `wrk -s bench/wrk.lua URL -- CALL TASKS LISTS`
-- CALL is get, list, put or post; TASKS the number of tasks (TaskNums 1000..);
-- LISTS the number of task lists. Prints one JSON line when done.
local call, tasks, lists
local first = 1000  -- mockserver/generate.py FIRST_TASKNUM
local counter = 0

function init(args)
  call, tasks, lists = args[1], tonumber(args[2]), tonumber(args[3])
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
  wrk.headers["Authorization"] = "ODFHIR bench/bench"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  if call == "get" then
    return wrk.format("GET", "/api/v1/tasks/" .. math.random(first, first + tasks - 1))
  elseif call == "list" then
    return wrk.format("GET", "/api/v1/tasks?TaskListNum=" .. math.random(1, lists) .. "&TaskStatus=New")
  elseif call == "put" then
    return wrk.format("PUT", "/api/v1/tasks/" .. math.random(first, first + tasks - 1), nil,
      '{"Descript": "Benchmark edit ' .. counter .. '", "TaskStatus": "Viewed"}')
  else
    return wrk.format("POST", "/api/v1/tasks", nil,
      '{"TaskListNum": ' .. math.random(1, lists) .. ', "Descript": "Benchmark task ' .. counter ..
      '", "UserNum": 1, "ObjectType": "Patient", "KeyNum": 1}')
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
