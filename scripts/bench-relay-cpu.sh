#!/usr/bin/env bash
# Relay CPU per packet, ours against coturn, in interleaved rounds: each
# round starts a fresh process of each relay on CPU 0 and sends 40 relayed
# sessions for 15 s from the harness on CPU 1 (see docs/BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p load-tests
LOAD=target/release/teleconsult-load
source scripts/relays.sh
SECRET=rounds-$$
for round in 1 2 3; do
  for relay in ours coturn; do
    if [ $relay = ours ]; then PORT=3496; else PORT=3497; fi
    start_relay $relay $PORT $SECRET
    out=$(taskset -c 1 $LOAD relay-stress --turn 127.0.0.1:$PORT --secret $SECRET --relay-pid $PID --sessions 40 --duration 15 2>&1 || true)
    echo "round $round $relay: $(echo "$out" | grep -E '^relay:') | $(echo "$out" | grep -E 'sessions,' | sed 's/.*loss/loss/')"
    kill $PID; wait $PID 2>/dev/null || true
  done
done
