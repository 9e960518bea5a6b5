#!/usr/bin/env bash
# Runs the fault tests (processes SIGKILLed, nats-server killed, Machines API faults, cancellation,
# limited worker permissions) N times in a row and prints one line per round with its duration.
# Usage: bash scripts/fault-soak.sh [N=10]   (a failing round's whole output goes to fault-soak-round-K.log)
set -uo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-10}"
files=(test/restart-resilience.test.ts test/fleet-recovery.test.ts test/cancel-retry.test.ts test/machines-client.test.ts test/worker-permissions.test.ts)
failed=0
for ((i = 1; i <= rounds; i++)); do
  start=$(date +%s)
  if out=$(node --import tsx --import ./test/support/leak-check.ts --test --test-concurrency=1 --test-timeout=600000 "${files[@]}" 2>&1); then status=pass; else status=FAIL; failed=$((failed + 1)); fi
  summary=$(grep -E '^# (pass|fail) ' <<<"$out" | tr '\n' ' ')
  echo "round $i/$rounds: $status in $(( $(date +%s) - start )) s ($summary)"
  if [[ $status == FAIL ]]; then
    grep -E '^not ok|error:' <<<"$out" | head -20
    printf '%s\n' "$out" >"fault-soak-round-$i.log"
    echo "  whole output: fault-soak-round-$i.log"
  fi
done
echo "$((rounds - failed))/$rounds rounds passed"
[[ $failed -eq 0 ]]
