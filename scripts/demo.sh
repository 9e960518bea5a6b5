#!/usr/bin/env bash
# Transcribes a short sample episode (synthesized here with flite from scripts/sample-episode.txt)
# through the embedded default stack: nats-server, libSQL file, local machines runtime, workers.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .podfleet/demo
sample=.podfleet/demo/sample-episode.wav
if [ ! -s "$sample" ]; then
  flite -voice rms -f scripts/sample-episode.txt -o .podfleet/demo/flite.wav
  ffmpeg -nostdin -v error -y -i .podfleet/demo/flite.wav -ar 16000 -ac 1 "$sample"
fi
exec node bin/podfleet.js transcribe "$sample" --out transcripts/sample-episode --chunk-seconds 20
