#!/usr/bin/env bash
# The main job: starts the server with a demo téléconsultation and prints
# the two links to open (professional and patient). Stop it with Ctrl-C;
# then `target/release/teleconsult --data demo-data trace show ACT` shows
# what was recorded.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo build --release --locked -p signaling
exec target/release/teleconsult --data "${TELECONSULT_DATA:-demo-data}" demo "$@"
