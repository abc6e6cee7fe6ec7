-- wrk script: counts the responses whose status is not 2xx (wrk's own
-- "Non-2xx or 3xx responses" counts only statuses above 399) and prints
-- "non-2xx: N" after wrk's report.  Used by bench-workers.sh under reloads.
--   wrk -s non2xx.lua URL
local threads = {}

setup = function(thread)
    table.insert(threads, thread)
end

init = function(args)
    bad = 0 -- a global of this thread's state: done() reads it with thread:get
end

response = function(status, headers, body)
    if status < 200 or status > 299 then
        bad = bad + 1
    end
end

done = function(summary, latency, requests)
    local n = 0
    for _, t in ipairs(threads) do
        n = n + (t:get("bad") or 0)
    end
    io.write(string.format("non-2xx: %d\n", n))
end
