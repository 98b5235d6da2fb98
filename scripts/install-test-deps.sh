#!/usr/bin/env bash
# What the test suite needs at run time, beyond cargo:
# - the GUI's image snapshots (viz/tests/snapshots.rs): a software Vulkan adapter for wgpu,
#   Mesa's lavapipe (mesa-vulkan-drivers), and the Vulkan loader that wgpu opens (libvulkan1).
#   The reference pictures were drawn with it; without an adapter the tests fail;
# - the real Redis clients that tests/serve_cache.rs runs against `faultline serve cache`:
#   redis-cli and redis-benchmark (redis-tools);
# - the real HTTP clients that tests/serve_app.rs runs against `faultline serve app` (and
#   scripts/bench-app.sh measures it with): curl and wrk.
# - the browser that tests/compare_html.rs renders `faultline compare --format html` in,
#   headless: chromium.
# With --bench, also what scripts/bench-cache.sh compares against: redis-server.
# Installs with apt-get only the packages that are missing, so running it again does nothing;
# as root directly, otherwise through sudo when there is one.
#
#   scripts/install-test-deps.sh [--bench]
set -euo pipefail

packages=(libvulkan1 mesa-vulkan-drivers redis-tools curl wrk chromium)
if [ "${1:-}" = "--bench" ]; then
  packages+=(redis-server)
fi

missing=()
for package in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)"
  [ "$status" = "install ok installed" ] || missing+=("$package")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-deps: no apt-get here; install these (Debian's names): ${missing[*]}" >&2
  exit 1
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-test-deps: not root and no sudo; as root run: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  as_root=(sudo)
fi

echo "install-test-deps: installing ${missing[*]}"
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
