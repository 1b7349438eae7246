#!/usr/bin/env bash
# Run every test of Casebook (Rust unit and integration tests, the real server over TLS,
# the generated Kotlin, Python and C bindings), installing what they need first; the server's
# and the cross-crate suites a second time on a throwaway PostgreSQL cluster; then run
# the documented bindings generator as an app developer would (Android flavour) and check
# what it wrote.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

# A throwaway PostgreSQL cluster (scripts/pg-cluster.sh), stopped and removed at the end.
pg_dir="$(mktemp -d /tmp/casebook-pg.XXXXXX)"
out="$(mktemp -d)"
cleanup() {
  status=$?
  if [ "$status" -ne 0 ]; then
    # What a failed run needs to be understood: the disks (a full one fails every test that
    # writes) and the end of PostgreSQL's log (a cluster that stopped fails every test on it).
    echo "== scripts/test-all.sh failed ($status): free space, and the end of PostgreSQL's log" >&2
    df -h "$pg_dir" "${CARGO_TARGET_DIR:-target}" "${TMPDIR:-/tmp}" >&2 || true
    tail -n 30 "$pg_dir/server.log" >&2 || true
  fi
  bash scripts/pg-cluster.sh stop "$pg_dir" || true
  rm -rf "$pg_dir" "$out"
}
trap cleanup EXIT
pg_url="$(CASEBOOK_PG_PORT="${CASEBOOK_PG_PORT:-5433}" bash scripts/pg-cluster.sh start "$pg_dir")"

# Every test on the embedded SQLite default; the PostgreSQL-only tests use the cluster.
CASEBOOK_PG_CLUSTER="$pg_url" CASEBOOK_REQUIRE_POSTGRES=1 cargo test --workspace

# The server's suite and the cross-crate end-to-end and console suites again, every server on
# PostgreSQL; the property-based completeness shards there with a quarter of their scenarios
# (500 of 2,000, other seeds than SQLite's run: about a minute).
echo "== the same suites on PostgreSQL"
CASEBOOK_TEST_POSTGRES="$pg_url" cargo test -p casebook-server --test integration
CASEBOOK_TEST_POSTGRES="$pg_url" cargo test -p casebook-tests --test e2e --test console \
  -- --skip completeness_prop
CASEBOOK_TEST_POSTGRES="$pg_url" CASEBOOK_COMPLETENESS_CASES=500 \
  CASEBOOK_COMPLETENESS_SEED=$((0x5EED0009 + 2000)) \
  cargo test -p casebook-tests --test e2e completeness_prop

bash scripts/generate-bindings.sh --android "$out" >/dev/null
for file in kotlin/org/casebook/mobile/casebook_mobile.kt swift/CasebookMobile.swift \
    swift/casebook_mobileFFI.h swift/casebook_mobileFFI.modulemap python/casebook_mobile.py; do
    if [ ! -s "$out/$file" ]; then
        echo "scripts/generate-bindings.sh did not write $file" >&2
        exit 1
    fi
done
if ! grep -q "import android.os.Build" "$out/kotlin/org/casebook/mobile/casebook_mobile.kt"; then
    echo "scripts/generate-bindings.sh --android wrote Kotlin without Android's cleaner" >&2
    exit 1
fi
echo "scripts/generate-bindings.sh --android: Android Kotlin, Swift, C header and Python written"
