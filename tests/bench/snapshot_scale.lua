-- wrk script for snapshot_scale.mjs: POST /v1/chat/completions with the key in SCALE_KEY.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("SCALE_KEY")
wrk.body = '{"model":"m-0","messages":[{"role":"user","content":"hi"}],"max_tokens":4}'

-- errors.status counts answers >= 400 (wrk), so a 401/503 during a swap is visible.
function done(summary, latency, requests)
  io.write(string.format("SCALE requests=%d duration_us=%d errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status,
    latency:percentile(50), latency:percentile(99)))
end
