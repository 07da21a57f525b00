-- bench/post.lua — wrk script for bench/stores.sh: POST /api/waitlist with a
-- new email in every request, so each one is a real join (201), never an
-- "already_joined" (200).
--
--   wrk -t1 -c32 -d10s --latency -s bench/post.lua http://HOST:PORT/api/waitlist -- TAG
--
-- Body: {"email":"<TAG>.<thread>.<n>@example.com","product_id":"bench-product"}
-- where <thread> is wrk's thread number (1..-t) and <n> counts that thread's
-- requests. TAG keeps emails unique across runs and across wrk processes
-- hitting the same database (stores.sh passes case, run and host); letters,
-- digits and dots only.

local threads = 0

function setup(thread)
    threads = threads + 1
    thread:set("thread_no", threads)
end

-- per thread (each wrk thread has its own Lua state)
local tag = "bench"
local n = 0

function init(args)
    if args[1] ~= nil then
        tag = args[1]
    end
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
    n = n + 1
    local body = string.format('{"email":"%s.%d.%d@example.com","product_id":"bench-product"}',
        tag, thread_no, n)
    return wrk.format(nil, nil, nil, body)
end
