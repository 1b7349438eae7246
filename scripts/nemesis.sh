#!/usr/bin/env bash
# A nemesis run in the manner of Jepsen (issue 13; not CI): the real server on loopback, four
# devices editing shared cases and syncing through a TCP proxy, and at least 1,000 faults
# injected at random (server SIGKILL and restart, SIGSTOP then SIGCONT, requests and
# responses cut or held mid-way, device clocks set back and forward). Prints the seed, the
# faults by kind, the checks made and PASS or FAIL; exits non-zero on FAIL.
#
#   scripts/nemesis.sh [--minutes N] [--faults N] [--seed N] [--release]
#
# Defaults: 1000 faults over 4 minutes, a random seed, the debug build (--release builds and
# runs the optimised one).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=debug
args=()
for arg in "$@"; do
    case "$arg" in
        --release) profile=release ;;
        *) args+=("$arg") ;;
    esac
done

if [ "$profile" = release ]; then
    cargo build --release -p casebook-tests --bin nemesis
else
    cargo build -p casebook-tests --bin nemesis
fi
target="${CARGO_TARGET_DIR:-target}"
exec "$target/$profile/nemesis" "${args[@]+"${args[@]}"}"
