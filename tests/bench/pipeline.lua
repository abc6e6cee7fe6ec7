-- wrk script: every write carries DEPTH requests for /plaintext (the
-- pipelined scenario of bench-daemon.sh).  Usage: wrk -s pipeline.lua URL -- DEPTH
local batch

init = function(args)
    local depth = tonumber(args[1]) or 16
    local one = wrk.format("GET", "/plaintext")
    batch = string.rep(one, depth)
end

request = function()
    return batch
end
