#!/usr/bin/env bash
# Generate the Kotlin, Swift and Python bindings of casebook-mobile (and the C header and
# module map Swift needs) in uniffi library mode, with the in-tree uniffi-bindgen.
#
#   scripts/generate-bindings.sh [--release] [--android] [OUT_DIR]
#
# --release  build the release cdylib (default: debug)
# --android  layer mobile-bindings/uniffi-android.toml (android = true) over uniffi.toml,
#            for Kotlin that runs on Android (the JVM tests use the plain settings)
# OUT_DIR    where to write (default: target/bindings)
#
# Output: OUT_DIR/kotlin/org/casebook/mobile/casebook_mobile.kt, OUT_DIR/swift/
# {CasebookMobile.swift, casebook_mobileFFI.h, casebook_mobileFFI.modulemap},
# OUT_DIR/python/casebook_mobile.py, and the host cdylib in OUT_DIR/lib/. Bindings for
# Android and iOS come from the same metadata, so generating from the host library is
# enough; the per-target libraries are built separately (see mobile-bindings/README.md).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
profile=debug
cargo_profile=()
config=()
out=""
for arg in "$@"; do
    case "$arg" in
        --release) profile=release; cargo_profile=(--release) ;;
        --android) config=(--config "$root/mobile-bindings/uniffi-android.toml") ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) out="$arg" ;;
    esac
done
target_dir="${CARGO_TARGET_DIR:-$root/target}"
out="${out:-$target_dir/bindings}"

cd "$root"
cargo build "${cargo_profile[@]}" -p casebook-mobile --lib --bin uniffi-bindgen

case "$(uname -s)" in
    Darwin) lib="$target_dir/$profile/libcasebook_mobile.dylib" ;;
    *) lib="$target_dir/$profile/libcasebook_mobile.so" ;;
esac
bindgen="$target_dir/$profile/uniffi-bindgen"

rm -rf "$out"
mkdir -p "$out/lib"
for language in kotlin swift python; do
    "$bindgen" generate "${config[@]}" --no-format --language "$language" \
        --out-dir "$out/$language" "$lib"
done
# Records print their fields in Python as in Kotlin (see the appended file).
cat "$root/mobile-bindings/python/records_repr.py" >> "$out/python/casebook_mobile.py"
cp "$lib" "$out/lib/"
echo "bindings written to $out"
