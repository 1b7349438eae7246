#!/usr/bin/env bash
# Run every test of Casebook (Rust unit and integration tests, the real server over TLS,
# the generated Kotlin, Python and C bindings), installing what they need first; then run
# the documented bindings generator as an app developer would (Android flavour) and check
# what it wrote.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo test --workspace

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
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
