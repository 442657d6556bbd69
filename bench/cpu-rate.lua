-- bench/cpu.sh: the soak's mix (scripts/soak/mix.lua) at a fixed pace. Each connection waits
-- CPU_DELAY_MS after every response, so the rate is about connections x 1000 / (delay + latency).
dofile("scripts/soak/mix.lua")

local pause = tonumber(os.getenv("CPU_DELAY_MS") or "0")

function delay()
  return pause
end
