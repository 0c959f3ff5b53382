-- wrk script: sorts every answer into what a reader got, since only a page the reader served
-- counts as throughput.
--   served  a 200 without a banner: the page, fresh.
--   stale   a 200 carrying a banner (`class="banner banner-...`): the stale fallback (the feed
--           service failing, paused or busy) or an error page dressed as one. A degraded page.
--   shed    a 503 with a `Retry-After` header: the edge refused the request on purpose.
--   error   anything else: another status, or no answer in time (wrk's socket errors and
--           timeouts; a page that never comes is not a page).
-- Used for the bare "hello" too (every 200 there is served), so both sides pay the same
-- per-answer cost in the load generator. Prints one line that run.sh parses:
--   pages: served S stale T shed H error E seconds D p50_ms X p99_ms Y
-- then, for each reason a banner gave (what follows the colon in "Showing your feeds as
-- they were ...: the feed service is busy."), one line:
--   banner: N <kind>: <reason>
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  served, stale, shed, failed = 0, 0, 0, 0
  reasons = {}
end

local function has_retry_after(headers)
  for name, _ in pairs(headers) do
    if name:lower() == "retry-after" then
      return true
    end
  end
  return false
end

function response(status, headers, body)
  if status == 200 then
    if body:find('class="banner banner-', 1, true) then
      stale = stale + 1
      local kind, message = body:match('class="banner banner%-(%w+)"[^>]*>([^<]*)<')
      local reason = (kind or "?") .. ": " .. ((message or ""):match(":%s*(.-)%.?%s*$") or "?")
      reasons[reason] = (reasons[reason] or 0) + 1
    else
      served = served + 1
    end
  elseif status == 503 and has_retry_after(headers) then
    shed = shed + 1
  else
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local s, t, h, e, why = 0, 0, 0, 0, {}
  for _, thread in ipairs(threads) do
    s = s + thread:get("served")
    t = t + thread:get("stale")
    h = h + thread:get("shed")
    e = e + thread:get("failed")
    for reason, n in pairs(thread:get("reasons")) do
      why[reason] = (why[reason] or 0) + n
    end
  end
  -- Answers that never arrived: the response callback above never saw them.
  local errors = summary.errors
  e = e + errors.connect + errors.read + errors.write + errors.timeout
  io.write(string.format("pages: served %d stale %d shed %d error %d seconds %.3f p50_ms %.2f p99_ms %.2f\n",
    s, t, h, e, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  for reason, n in pairs(why) do
    io.write(string.format("banner: %d %s\n", n, reason))
  end
end
