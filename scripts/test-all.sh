#!/usr/bin/env bash
# Run every test of Casebook (Rust unit and integration tests, the real server over TLS,
# the generated Kotlin, Python and C bindings), installing what they need first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo test --workspace
