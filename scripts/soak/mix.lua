-- wrk script for scripts/soak.sh: a weighted mix of api-app's endpoints. Each thread remembers the
-- tasks it created (from the Location header) and reads, patches and finally deletes them, so the
-- store reaches a steady size. Statuses other than the expected ones are counted and reported.

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

local key = os.getenv("SOAK_KEY") or ""
local json = { ["Content-Type"] = "application/json" }
local ids, head, tail = {}, 1, 0   -- this thread's tasks, oldest first
local counter = 0
unexpected, server_errors = 0, 0
by_status = {} -- the unexpected ones, by status, so a failed soak says what it saw

function init(args)
  math.randomseed(os.time() + (id or 0) * 7919)
end

local function held() return tail - head + 1 end

-- One of the newest 150 tasks: deletes take the oldest, and only once 300 are held, so a task that is
-- read or patched is never one a delete in flight is removing.
local function recent()
  local n = math.min(held(), 150)
  return ids[tail - math.random(0, n - 1)]
end

function request()
  counter = counter + 1
  local r = math.random(100)
  if r <= 30 then
    return wrk.format("GET", "/api/tasks?limit=20")
  elseif r <= 50 then
    if held() >= 300 then
      local victim = ids[head]
      ids[head] = nil
      head = head + 1
      return wrk.format("DELETE", "/api/tasks/" .. victim)
    end
    return wrk.format("POST", "/api/tasks", json, '{"title":"soak task ' .. counter .. '"}')
  elseif r <= 65 and held() > 0 then
    return wrk.format("GET", "/api/tasks/" .. recent())
  elseif r <= 75 and held() > 0 then
    local done = (counter % 2 == 0) and "true" or "false"
    return wrk.format("PATCH", "/api/tasks/" .. recent(), json, '{"completed":' .. done .. '}')
  elseif r <= 85 then
    return wrk.format("GET", "/api/echo?message=soak-" .. counter)
  elseif r <= 95 then
    return wrk.format("GET", "/api/health")
  else
    return wrk.format("GET", "/api/protected/stats", { ["x-api-key"] = key })
  end
end

function response(status, headers, body)
  if status == 201 then
    local location = headers["location"] or headers["Location"] or ""
    local new = location:match("/api/tasks/(.+)$")
    if new then
      tail = tail + 1
      ids[tail] = new
    end
  elseif status >= 300 then
    unexpected = unexpected + 1
    by_status[status] = (by_status[status] or 0) + 1
    if status >= 500 then server_errors = server_errors + 1 end
  end
end

function done(summary, latency, requests)
  local bad, fives, counts = 0, 0, {}
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("unexpected") or 0)
    fives = fives + (thread:get("server_errors") or 0)
    for status, n in pairs(thread:get("by_status") or {}) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  if bad > 0 then
    local statuses = {}
    for status, n in pairs(counts) do table.insert(statuses, string.format("%d x %d", n, status)) end
    table.sort(statuses)
    io.write(string.format("soak: unexpected statuses: %d (5xx: %d; %s)\n", bad, fives, table.concat(statuses, ", ")))
  else
    io.write("soak: every response had an expected status (0 unexpected, 0 5xx)\n")
  end
end
