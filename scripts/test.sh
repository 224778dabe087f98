#!/usr/bin/env bash
# The test command: installs what is missing, then checks formatting and
# lints, runs every Rust test of the workspace, and the browser tests in
# headless Chromium (screenshots in target/e2e/).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
cargo build --locked -p signaling
(cd web-client/tests && npm ci --no-audit --no-fund --loglevel=error && node --test)
