#!/usr/bin/env bash
# Relayed sessions each relay carries, ours against coturn, in interleaved
# rounds: this machine's capacity moves by ±20 % from minute to minute, so
# a single capacity search per relay (bench-relay.sh) can land the two
# relays on different minutes. Each round, each load level and each relay
# get a fresh relay process on CPU 0, the harness on CPU 1, and the relay
# that goes first alternates (ALTERNATE=0: ours always first). A level holds when loss ≤ 1 % and p99 ≤ 150 ms
# with no setup failure (relay-stress's exit status).
#
#   ROUNDS=3 LEVELS="140 160 180 200 220" DURATION=8 scripts/bench-relay-rounds.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
LEVELS=${LEVELS:-"140 160 180 200 220"}
DURATION=${DURATION:-8}
ALTERNATE=${ALTERNATE:-1}
cargo build --release --locked -p load-tests
LOAD=target/release/teleconsult-load
source scripts/relays.sh
SECRET=rounds-$$
for round in $(seq "$ROUNDS"); do
  order="ours coturn"
  if [ "$ALTERNATE" = 1 ] && [ $((round % 2)) = 0 ]; then order="coturn ours"; fi
  for level in $LEVELS; do
    for relay in $order; do
      if [ "$relay" = ours ]; then PORT=3498; else PORT=3499; fi
      start_relay "$relay" "$PORT" "$SECRET"
      if out=$(taskset -c 1 $LOAD relay-stress --turn 127.0.0.1:$PORT --secret "$SECRET" \
        --relay-pid "$PID" --sessions "$level" --duration "$DURATION" 2>&1); then held=held; else held=BROKE; fi
      loss=$(echo "$out" | grep -aE 'sessions,' | sed 's/.*loss \([0-9.]*\) %.*/\1/')
      p99=$(echo "$out" | grep -aE '^one-way latency via relay' | awk '{print $7}')
      core=$(echo "$out" | grep -aE '^relay:' | sed 's/.*(\([0-9]*\) % of a core).*/\1/')
      per=$(echo "$out" | grep -aE '^relay:' | sed 's/.*, \([0-9.]*\) µs per packet.*/\1/')
      echo "round $round $level $relay: $held loss $loss % p99 $p99 ms, relay at $core % of a core, $per µs/packet"
      kill "$PID"; wait "$PID" 2>/dev/null || true
    done
  done
done
