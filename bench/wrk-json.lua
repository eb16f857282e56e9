-- SPDX-License-Identifier: MIT
-- wrk script for bench/bench.sh: at the end of the run, one line
--   WRKJSON {...}
-- with the request count, the duration and latency percentiles in
-- microseconds, straight from wrk's own histogram (no unit parsing).
-- BENCH_CLOSE=1 in the environment adds "Connection: close".
if os.getenv("BENCH_CLOSE") == "1" then
	wrk.headers["Connection"] = "close"
end

done = function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
		'"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,' ..
		'"err_connect":%d,"err_read":%d,"err_write":%d,' ..
		'"err_status":%d,"err_timeout":%d}\n',
		summary.requests, summary.duration, summary.bytes,
		latency:percentile(50), latency:percentile(90),
		latency:percentile(99), latency.mean,
		e.connect, e.read, e.write, e.status, e.timeout))
end
