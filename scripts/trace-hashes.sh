#!/usr/bin/env bash
# Prints "file seed hash" for every scenario in scenarios/*.toml under seeds 1-3, with the
# faultline binary given (default: target/release/faultline). Run it with two builds and diff
# the outputs to see which scenarios a change moved.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/faultline}
for f in scenarios/*.toml; do
  [ "$(basename "$f")" = regressions.toml ] && continue  # a corpus of runs, not a scenario
  for s in 1 2 3; do
    h=$("$bin" run "$f" --seed "$s" --format json 2>/dev/null | grep -m1 '"trace_hash"' | tr -d ' ",' | cut -d: -f2 || true)
    echo "$(basename "$f") $s ${h:-NONE}"
  done
done
