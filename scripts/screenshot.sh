#!/usr/bin/env bash
# Screenshot of the replay GUI on a shipped scenario, for the README: docs/img/replay.png.
#
# Runs `faultline replay SCENARIO --seed N` in a real window on a virtual X display (Xvfb,
# software OpenGL from Mesa), waits for it to draw, captures the screen with ImageMagick's
# `import`, and stops the window. Installs what it needs with apt-get when missing.
#
#   scripts/screenshot.sh [SCENARIO] [SEED] [OUT.png]
#
# Defaults: scenarios/quickstart.toml, seed 1, docs/img/replay.png; the cursor starts at
# SCREENSHOT_AT seconds (default 14: the quickstart replica is down from 12 s to 17 s).
set -euo pipefail
cd "$(dirname "$0")/.."

scenario="${1:-scenarios/quickstart.toml}"
seed="${2:-1}"
at="${SCREENSHOT_AT:-14}"   # seconds into the run where the cursor starts (quickstart: replica down)
out="${3:-docs/img/replay.png}"
width=1600
height=1000

need=()
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
command -v import >/dev/null 2>&1 && import -version 2>/dev/null | grep -q ImageMagick || need+=(imagemagick)
# Mesa's software OpenGL (llvmpipe), and the X libraries winit and glutin load at run time.
for lib in libGLX_mesa.so.0 libEGL.so.1 libxkbcommon-x11.so.0 libXcursor.so.1 libXi.so.6 libXrandr.so.2; do
  ldconfig -p | grep -q "$lib" || { need+=(libgl1-mesa-dri libglx-mesa0 libegl1 libxkbcommon-x11-0 libxcursor1 libxi6 libxrandr2); break; }
done
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

nice -n 15 cargo build --release --bin faultline
bin=target/release/faultline
if [ -n "${CARGO_TARGET_DIR:-}" ]; then bin="$CARGO_TARGET_DIR/release/faultline"; fi

display=":${SCREENSHOT_DISPLAY:-97}"
Xvfb "$display" -screen 0 "${width}x${height}x24" -nolisten tcp >/dev/null 2>&1 &
xvfb_pid=$!
app_pid=""
cleanup() {
  [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null || true
  kill "$xvfb_pid" 2>/dev/null || true
}
trap cleanup EXIT
sleep 1

out_dir="$(mktemp -d)"
DISPLAY="$display" LIBGL_ALWAYS_SOFTWARE=1 "$bin" replay "$scenario" --seed "$seed" --out "$out_dir" --at "$at" &
app_pid=$!
# The run takes a moment, the window a few frames more.
sleep "${SCREENSHOT_WAIT:-12}"
if ! kill -0 "$app_pid" 2>/dev/null; then
  echo "the replay window exited early" >&2
  exit 1
fi
mkdir -p "$(dirname "$out")"
DISPLAY="$display" import -window root "$out"
echo "wrote $out"
