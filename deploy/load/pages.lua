-- wrk script for the river page: tells apart what each answer is, since only a page the
-- reader served counts as throughput. A 200 carrying a banner (`class="banner banner-...`) is
-- the stale fallback or an error page; any other status is a failure. Prints one line:
--   pages: served N fallback M failed E
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  served, fallback, failed = 0, 0, 0
end

function response(status, headers, body)
  if status ~= 200 then
    failed = failed + 1
  elseif body:find('class="banner banner-', 1, true) then
    fallback = fallback + 1
  else
    served = served + 1
  end
end

function done(summary, latency, requests)
  local s, f, e = 0, 0, 0
  for _, thread in ipairs(threads) do
    s = s + thread:get("served")
    f = f + thread:get("fallback")
    e = e + thread:get("failed")
  end
  io.write(string.format("pages: served %d fallback %d failed %d\n", s, f, e))
end
