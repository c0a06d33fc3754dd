-- wrk script: correctly shaped KMS JSON 1.1 requests (hsmkms bench, see bench/run.py).
--
--   wrk -t1 -c4 -d5s -s bench/kms.lua http://127.0.0.1:PORT/ -- OPERATION BODIES_FILE
--
-- BODIES_FILE holds one JSON request body per line (made beforehand with boto3 by run.py);
-- the requests cycle through them. Each request carries what boto3 sends: X-Amz-Target,
-- the JSON 1.1 content type, X-Amz-Date and a SigV4-shaped Authorization header whose
-- credential scope names the access key, the region and the service.
-- done() prints one JSON line (prefixed "BENCH ") that run.py reads.

local requests_ = {}
local n, i = 0, 0

function init(args)
  local operation, path = args[1], args[2]
  local date = os.date("!%Y%m%d")
  local stamp = os.date("!%Y%m%dT%H%M%SZ")
  local headers = {
    ["Content-Type"] = "application/x-amz-json-1.1",
    ["X-Amz-Target"] = "TrentService." .. operation,
    ["X-Amz-Date"] = stamp,
    ["User-Agent"] = "hsmkms-bench wrk",
    ["Authorization"] = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/" .. date
      .. "/us-east-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
      .. "Signature=" .. string.rep("5d", 32),
  }
  for line in io.lines(path) do
    if #line > 0 then
      n = n + 1
      requests_[n] = wrk.format("POST", "/", headers, line)
    end
  end
end

function request()
  i = i % n + 1
  return requests_[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "p999_us": %d, '
    .. '"mean_us": %.1f, "max_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, '
    .. '"timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max, e.connect, e.read, e.write, e.status,
    e.timeout))
end
