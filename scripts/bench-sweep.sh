#!/usr/bin/env bash
# Seeds per second of `faultline sweep`: scenarios/quickstart.toml over 40 seeds at --jobs 1
# and --jobs 2, then the same with --out DIR (the cost of writing each run's result as it
# finishes, and summary.json), then with --swarm (the cost of drawing faults per seed; the
# drawn faults also change what each run does, so this is the cost of a swarm sweep, not of
# the draw alone). Each configuration runs REPEATS times; the best wall time counts
# (the least disturbed by other work on the machine). Prints the load average first: figures
# taken on a busy machine say more about the machine than about the sweep.
#
#   scripts/bench-sweep.sh [BINARY] [REPEATS]
#
# BINARY defaults to target/release/faultline (built with `cargo build --release` first);
# REPEATS to 3.
set -euo pipefail
cd "$(dirname "$0")/.."

binary="${1:-target/release/faultline}"
repeats="${2:-3}"
if [ "$binary" = target/release/faultline ]; then
  cargo build --release --quiet --bin faultline
fi
[ -x "$binary" ] || { echo "bench-sweep: $binary is not an executable" >&2; exit 2; }
scenario=scenarios/quickstart.toml
seeds=40
work="$(mktemp -d /tmp/faultline-bench-sweep.XXXXXX)"
trap 'rm -rf "$work"' EXIT

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); cores: $(nproc)"
best() {
  local jobs="$1" mode="$2" best_s="" start end s
  for i in $(seq "$repeats"); do
    args=(sweep "$scenario" --seeds "$seeds" --jobs "$jobs")
    if [ "$mode" = out ]; then
      rm -rf "$work/out-$i"
      args+=(--out "$work/out-$i")
    fi
    if [ "$mode" = swarm ]; then
      args+=(--swarm)
    fi
    start="$(date +%s.%N)"
    "$binary" "${args[@]}" >/dev/null 2>&1
    end="$(date +%s.%N)"
    s="$(echo "$end - $start" | bc -l)"
    if [ -z "$best_s" ] || [ "$(echo "$s < $best_s" | bc -l)" = 1 ]; then best_s="$s"; fi
  done
  echo "$best_s"
}

declare -A wall
for config in "1 plain" "2 plain" "1 out" "2 out" "1 swarm" "2 swarm"; do
  set -- $config
  wall["$1-$2"]="$(best "$1" "$2")"
  printf 'jobs %s, %-5s  best of %s: %6.2f s  %6.2f seeds/s\n' "$1" "$2" "$repeats" \
    "${wall[$1-$2]}" "$(echo "$seeds / ${wall[$1-$2]}" | bc -l)"
done
printf 'jobs 2 / jobs 1: %.2fx   --out overhead: %+.1f%% (jobs 1), %+.1f%% (jobs 2)   --swarm: %+.1f%% (jobs 1)\n' \
  "$(echo "${wall[1-plain]} / ${wall[2-plain]}" | bc -l)" \
  "$(echo "(${wall[1-out]} / ${wall[1-plain]} - 1) * 100" | bc -l)" \
  "$(echo "(${wall[2-out]} / ${wall[2-plain]} - 1) * 100" | bc -l)" \
  "$(echo "(${wall[1-swarm]} / ${wall[1-plain]} - 1) * 100" | bc -l)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
