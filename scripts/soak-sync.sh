#!/usr/bin/env bash
# Run one e2e sync test many times in a row (not part of CI) and print how many runs failed.
# It exists for the test that used to fail about 1 run in 100 when a sync succeeded without
# delivering a change (docs/protocol.md, "Completeness").
#
#   scripts/soak-sync.sh [RUNS] [TEST]
#
# RUNS defaults to 500; TEST to
# mobile_sync::saving_a_note_opened_before_a_sign_off_arrived_keeps_the_sign_off.
# The output of each failed run is kept in a temporary directory named at the end.
# Exits 1 if any run failed.
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-500}"
test="${2:-mobile_sync::saving_a_note_opened_before_a_sign_off_arrived_keeps_the_sign_off}"

# Build once; run the test binary directly.
bin="$(cargo test -p casebook-tests --test e2e --no-run 2>&1 |
    sed -n 's/.*Executable tests\/e2e\/main.rs (\(.*\))/\1/p' | tail -n 1)"
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "soak-sync: could not build the e2e test binary" >&2
    exit 2
fi

logs="$(mktemp -d)"
# A copy, so that a rebuild meanwhile does not change (or remove) what runs.
cp "$bin" "$logs/e2e"
bin="$logs/e2e"
failures=0
for i in $(seq 1 "$runs"); do
    if ! "$bin" --exact "$test" >"$logs/run-$i.log" 2>&1; then
        failures=$((failures + 1))
        echo "run $i failed (log: $logs/run-$i.log)"
    else
        rm -f "$logs/run-$i.log"
    fi
done
echo "soak-sync: $test: $failures of $runs runs failed"
rm -f "$bin"
if [ "$failures" -ne 0 ]; then
    exit 1
fi
rm -rf "$logs"
