#!/usr/bin/env bash
# The test command: installs what is missing, then checks formatting and
# lints, runs every Rust test of the workspace (with a throwaway
# PostgreSQL and Redis from scripts/services.sh), a load smoke run, and the
# browser tests in headless Chromium (screenshots in target/e2e/).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The FHIR export's test (signaling/tests/fhir_export.rs) runs FHIR.js from
# web-client/tests/node_modules: install it before cargo test.
(cd web-client/tests && npm ci --no-audit --no-fund --loglevel=error)
# PostgreSQL and Redis for the store tests (store-postgres/tests): the
# script's own test first, then the servers the Rust tests use, stopped on
# exit whatever happens.
bash scripts/services-test.sh
trap 'bash scripts/services.sh down || true' EXIT
bash scripts/services.sh up
set -a
# shellcheck source=/dev/null
. target/services.env
set +a
cargo test --workspace --locked
cargo build --locked -p signaling -p load-tests
# Load smoke run: 4 téléconsultations with encoded media for 20 s through the
# real server; teleconsult-load exits non-zero when an SLO breaks.
target/debug/teleconsult-load consult --spawn-server target/debug/teleconsult \
    --rooms 4 --rate 2 --duration 20 --clip-frames 15 --json target/load-smoke.json
(cd web-client/tests && node --test)
