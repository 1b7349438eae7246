#!/usr/bin/env bash
# Install what building and testing Casebook needs on a Debian machine with a Rust toolchain:
# OpenSSL headers (SQLCipher's crypto), pkg-config, Java 17 and JNA plus the Kotlin compiler
# (for the Kotlin tests of the generated bindings), Python 3 (for the Python ones), poppler-utils
# (pdftotext, pdfimages, pdftoppm: the police pack tests read the PDF back with them), Chromium and
# its WebDriver (chromium, chromium-driver: the console's browser tests drive it headless),
# PostgreSQL (postgresql: scripts/pg-cluster.sh starts a throwaway cluster for the tests).
# Idempotent: installs only what is missing.
set -euo pipefail

need=()
for pkg in libssl-dev pkg-config openjdk-17-jdk-headless libjna-java python3 poppler-utils chromium chromium-driver \
    postgresql; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
  sudo_if_needed=()
  [ "$(id -u)" -eq 0 ] || sudo_if_needed=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_if_needed[@]}" apt-get update -qq
  "${sudo_if_needed[@]}" apt-get install -y -qq "${need[@]}"
fi

# The Kotlin compiler (bundles kotlinx-coroutines) from the npm registry.
if [ ! -x "$(npm root -g 2>/dev/null)/kotlin-compiler/bin/kotlinc" ]; then
  npm install -g kotlin-compiler
fi
