#!/usr/bin/env bash
# Requests per second of `faultline serve cache` against redis-server, on loopback, under the
# same redis-benchmark run: `-t set,get,incr,mset -n N -c 50`, unpipelined and with `-P 16`.
# Both servers run on this machine in this one run, one after the other for each test, so they
# see the same machine. Prints one table (markdown) with the ratio faultline / redis.
#
#   scripts/bench-cache.sh [BINARY] [REQUESTS]
#
# BINARY defaults to target/release/faultline (built with `cargo build --release` when
# missing); REQUESTS to 200000. Needs redis-server and redis-benchmark (Debian's
# redis-server and redis-tools; scripts/install-test-deps.sh --bench installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

binary="${1:-target/release/faultline}"
requests="${2:-200000}"
if [ ! -x "$binary" ]; then
  cargo build --release --quiet
fi
for tool in redis-server redis-benchmark; do
  command -v "$tool" >/dev/null || { echo "bench-cache: $tool is missing: scripts/install-test-deps.sh --bench" >&2; exit 2; }
done

redis_port=16379
faultline_port=16380
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >/dev/null &
redis_pid=$!
"$binary" serve cache --listen "127.0.0.1:$faultline_port" --seed 1 >/dev/null &
faultline_pid=$!
trap 'kill $redis_pid $faultline_pid 2>/dev/null || true' EXIT
for port in "$redis_port" "$faultline_port"; do
  for _ in $(seq 100); do
    redis-cli -p "$port" PING >/dev/null 2>&1 && break
    sleep 0.1
  done
done

# rps PORT TEST PIPELINE: requests per second redis-benchmark reports for one test.
rps() {
  redis-benchmark -h 127.0.0.1 -p "$1" -t "$2" -n "$requests" -c 50 -P "$3" -q 2>/dev/null \
    | tr '\r' '\n' | grep -E "requests per second" | tail -1 | sed -E 's/.*: ([0-9.]+) requests per second.*/\1/'
}

echo "| test | pipeline | redis-server (req/s) | faultline serve cache (req/s) | ratio |"
echo "|---|---|---|---|---|"
for pipeline in 1 16; do
  for test in set get incr mset; do
    redis=$(rps "$redis_port" "$test" "$pipeline")
    ours=$(rps "$faultline_port" "$test" "$pipeline")
    ratio=$(awk -v a="$ours" -v b="$redis" 'BEGIN { printf "%.2f", a / b }')
    echo "| $test | $pipeline | $redis | $ours | $ratio |"
  done
done
