#!/usr/bin/env bash
# Requests per second and latency of `faultline serve app` on loopback: the app with its store
# and L2 cache node embedded in the one process (its defaults), 100 keys written with curl,
# then `wrk -t2 -c32 -d SECONDS --latency` reading one of them (cache hits after the first).
# Prints wrk's rate and latency lines, then one summary line.
#
#   scripts/bench-app.sh [BINARY] [SECONDS]
#
# BINARY defaults to target/release/faultline (built with `cargo build --release` when
# missing); SECONDS to 10. Needs curl and wrk (scripts/install-test-deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

binary="${1:-target/release/faultline}"
seconds="${2:-10}"
if [ ! -x "$binary" ]; then
  cargo build --release --quiet
fi
for tool in curl wrk; do
  command -v "$tool" >/dev/null || { echo "bench-app: $tool is missing: scripts/install-test-deps.sh" >&2; exit 2; }
done

port=18080
base="http://127.0.0.1:$port"
"$binary" serve app --listen "127.0.0.1:$port" --seed 1 >/dev/null &
app_pid=$!
trap 'kill $app_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "$base/health" >/dev/null 2>&1 && break
  kill -0 "$app_pid" 2>/dev/null || { echo "bench-app: serve app exited (port $port in use?)" >&2; exit 1; }
  sleep 0.1
done
curl -sf "$base/health" >/dev/null || { echo "bench-app: serve app does not answer on $base" >&2; exit 1; }

for i in $(seq 0 99); do
  curl -sf -X PUT --data-binary "value-$i" "$base/items/key$i" >/dev/null
done
[ "$(curl -sf "$base/items/key42")" = "value-42" ] || { echo "bench-app: key42 was not stored" >&2; exit 1; }

out="$(wrk -t2 -c32 -d"${seconds}s" --latency "$base/items/key42")"
echo "$out" | grep -E "Latency|50%|90%|99%|requests in|Requests/sec|Socket errors|Non-2xx" || true
rate="$(echo "$out" | awk '/^Requests\/sec:/ { print $2 }')"
p50="$(echo "$out" | awk '$1 == "50%" { print $2 }')"
p99="$(echo "$out" | awk '$1 == "99%" { print $2 }')"
errors="$(echo "$out" | grep -E "Socket errors|Non-2xx" || echo "none")"
echo "serve app, GET of one key, wrk -t2 -c32 -d${seconds}s: ${rate} requests/sec, p50 ${p50}, p99 ${p99}, errors: ${errors}"
