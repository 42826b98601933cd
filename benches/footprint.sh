#!/usr/bin/env bash
# The daemon's memory footprint: resident set of the release binary running with simulated
# modems, at rest and after a load of OTP sends and inbound SMS. The simulator runs inside the
# same process, so the figures are an upper bound for the daemon alone.
#
#   bash benches/footprint.sh [OTPS] [INBOUND]      (defaults 1000 and 500)
set -euo pipefail
cd "$(dirname "$0")/.."
otps=${1:-1000}
inbound=${2:-500}

cargo build --release --locked --quiet
bin=${CARGO_TARGET_DIR:-target}/release/simgate
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/simgate.toml" <<EOF
[server]
listen = "127.0.0.1:$port"
[auth]
api_keys = ["bench-key"]
[otp]
rate_per_number_per_hour = 0
rate_per_key_per_minute = 0
[simulator]
send_latency_ms = 0
EOF
(cd "$dir" && exec "$bin" run --simulate 2 --config simgate.toml 2>"$dir/log") &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.2; done
sleep 2

rss() { awk '/^VmRSS|^VmHWM/ {printf "%s %.1f MiB  ", $1, $2/1024}' /proc/$pid/status; echo; }
echo "binary: $(du -h "$bin" | cut -f1) ($(uname -m))"
echo -n "at rest, 2 modems:            "; rss

python3 - "$port" "$otps" "$inbound" <<'EOF'
import json, sys, time, urllib.request
port, otps, inbound = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
base = f"http://127.0.0.1:{port}"
def post(path, body):
    req = urllib.request.Request(base + path, json.dumps(body).encode(),
        {"Authorization": "Bearer bench-key", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)
for i in range(otps):
    post("/otp/new", {"to": f"+1415555{i % 10000:04d}"})
for i in range(inbound):
    post("/v1/simulator/inbound", {"from": f"+1415556{i % 10000:04d}", "to": "+15550000001",
                                   "text": f"inbound message {i}"})
# Wait for the queue to drain and the inbound to be stored.
deadline = time.time() + 120
while time.time() < deadline:
    with urllib.request.urlopen(urllib.request.Request(base + "/metrics",
            headers={"Authorization": "Bearer bench-key"})) as r:
        text = r.read().decode()
    depth = [l for l in text.splitlines() if l.startswith("simgate_outbound_queue_depth")]
    if depth and float(depth[0].split()[-1]) == 0:
        break
    time.sleep(0.5)
time.sleep(2)
EOF
echo -n "after $otps OTPs + $inbound inbound: "; rss
