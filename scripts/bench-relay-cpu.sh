#!/usr/bin/env bash
# Relay CPU per packet, ours against coturn, in interleaved rounds: each
# round starts a fresh process of each relay on CPU 0 and sends 40 relayed
# sessions for 15 s from the harness on CPU 1 (see docs/BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p load-tests
L=target/release/teleconsult-load
SECRET=rounds-$$
for round in 1 2 3; do
  for relay in ours coturn; do
    if [ $relay = ours ]; then
      taskset -c 0 $L relay --listen 127.0.0.1:3496 --secret $SECRET >/dev/null 2>&1 & PORT=3496
    else
      taskset -c 0 turnserver -n --listening-ip=127.0.0.1 --relay-ip=127.0.0.1 --listening-port=3497 --use-auth-secret --static-auth-secret="$SECRET" --realm=bench --fingerprint --no-tls --no-dtls --no-cli --allow-loopback-peers --no-stdout-log --log-file=/dev/null --min-port=20000 --max-port=39999 --total-quota=0 --user-quota=0 >/dev/null 2>&1 & PORT=3497
    fi
    PID=$!; sleep 1
    out=$(taskset -c 1 $L relay-stress --turn 127.0.0.1:$PORT --secret $SECRET --relay-pid $PID --sessions 40 --duration 15 2>&1 || true)
    echo "round $round $relay: $(echo "$out" | grep -E '^relay:') | $(echo "$out" | grep -E 'sessions,' | sed 's/.*loss/loss/')"
    kill $PID; wait $PID 2>/dev/null || true
  done
done
