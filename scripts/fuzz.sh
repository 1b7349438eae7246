#!/usr/bin/env bash
# Fuzz the decoders of outside bytes (not part of CI; docs/operations.md, "Fuzzing"):
#   request_decoder  a POST /v1/sync body as the server decodes and screens it;
#   document_loader  a saved document as the server loads it and as a device receives it whole;
#   sync_message     a device's sync message applied by the server to the stored document, and
#                    a server's message received by a device in its sync session.
# The fuzzer (tests/src/fuzz/, the casebook-fuzz binary) is plain stable Rust: real messages
# and documents mutated with automerge's framing repaired (lengths, checksums), no coverage
# feedback. It runs in batches, one process each, whose inputs follow from the batch number.
#
#   scripts/fuzz.sh [INPUTS_PER_TARGET]            (default 400000: 1.2 million in all)
#
# Environment: FUZZ_TARGETS (default all three), FUZZ_BATCH (inputs per process, 20000),
# FUZZ_FIRST_BATCH (default 0; change it to explore new inputs), FUZZ_OUT (the run's
# directory, default $CARGO_TARGET_DIR/fuzz-run), FUZZ_MEMORY_KB (virtual memory per process,
# default 4 GiB), FUZZ_BATCH_TIMEOUT (seconds per batch, default 900).
#
# Every input that panicked (a crash, or the first panic caught inside at each place in the
# code), ran slower than 2 s, or killed its process (abort, out of memory, timeout: found by
# running that batch again, recording each input) is copied to
# tests/fixtures/fuzz-regressions/<target>/, which `cargo test -p casebook-tests --test
# fuzz_regressions` replays. Exits 1 if anything crashed or killed a process.
set -euo pipefail
cd "$(dirname "$0")/.."

per_target="${1:-400000}"
batch="${FUZZ_BATCH:-20000}"
first="${FUZZ_FIRST_BATCH:-0}"
targets="${FUZZ_TARGETS:-request_decoder document_loader sync_message}"
memory_kb="${FUZZ_MEMORY_KB:-4194304}"
batch_timeout="${FUZZ_BATCH_TIMEOUT:-900}"
target_dir="${CARGO_TARGET_DIR:-target}"
out="${FUZZ_OUT:-$target_dir/fuzz-run}"
regressions="tests/fixtures/fuzz-regressions"

# What it needs: a Rust toolchain (stable) and OpenSSL's headers for SQLCipher.
command -v cargo >/dev/null || { echo "fuzz: cargo is needed (https://rustup.rs)" >&2; exit 2; }
if ! pkg-config --exists openssl 2>/dev/null; then
    scripts/install-deps.sh
fi
cargo build --release -q -p casebook-tests --bin casebook-fuzz
fuzzer="$out/casebook-fuzz"
mkdir -p "$out"
# A copy, so that a rebuild meanwhile does not change what runs.
cp "$target_dir/release/casebook-fuzz" "$fuzzer"
rm -f "$out"/*.jsonl

failed=0
killed=()
started=$(date +%s)
for target in $targets; do
    batches=$(( (per_target + batch - 1) / batch ))
    for ((b = first; b < first + batches; b++)); do
        n=$batch
        if (( (b - first + 1) * batch > per_target )); then n=$(( per_target - (b - first) * batch )); fi
        status=0
        ( ulimit -v "$memory_kb"; timeout "$batch_timeout" "$fuzzer" run "$target" "$b" "$n" "$out" >/dev/null ) || status=$?
        if [ "$status" -ne 0 ]; then
            # The process died (abort, out of memory) or hung: run the batch again, writing
            # each input before it runs, and keep the one it died on.
            record="$out/$target-$b.current"
            ( ulimit -v "$memory_kb"; timeout "$batch_timeout" "$fuzzer" run "$target" "$b" "$n" "$out" --record "$record" >/dev/null ) || true
            why=abort
            [ "$status" -eq 124 ] && why=timeout
            if [ -s "$record" ]; then
                name="$why-$(sha256sum "$record" | cut -c1-16)"
                mkdir -p "$out/$target"
                cp "$record" "$out/$target/$name"
                killed+=("$target batch $b: $why (exit $status), input kept as $name")
            else
                killed+=("$target batch $b: $why (exit $status), no input recorded")
            fi
            failed=1
        fi
    done
done

echo "fuzz: $(date -u +%FT%TZ), $(( $(date +%s) - started )) s, batches from $first of $batch inputs"
for target in $targets; do
    "$fuzzer" summary "$target" "$out"
    if [ -d "$out/$target" ]; then
        mkdir -p "$regressions/$target"
        for f in "$out/$target"/*; do
            [ -e "$f" ] || continue
            if [ ! -e "$regressions/$target/$(basename "$f")" ]; then
                cp "$f" "$regressions/$target/"
                echo "  kept $regressions/$target/$(basename "$f")"
            fi
            case "$(basename "$f")" in crash-*) failed=1 ;; esac
        done
    fi
done
for k in "${killed[@]+"${killed[@]}"}"; do echo "  killed: $k"; done
exit "$failed"
