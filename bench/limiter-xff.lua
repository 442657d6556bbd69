-- wrk script for bench/limiter-rss.sh: every request names a new random client in
-- X-Forwarded-For (the peer, 127.0.0.1, is a trusted proxy) and fails the key check, so each one
-- reaches the failed-key limiter under a client it has never seen.
math.randomseed(os.time())

request = function()
  local client = string.format("%d.%d.%d.%d",
    math.random(1, 223), math.random(0, 255), math.random(0, 255), math.random(1, 254))
  return wrk.format("GET", "/api/protected/stats", {
    ["x-api-key"] = "not-the-key-of-this-bench",
    ["x-forwarded-for"] = client,
  })
end
