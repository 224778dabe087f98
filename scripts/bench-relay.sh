#!/usr/bin/env bash
# Side-by-side benchmark of our TURN relay and coturn, in one run, on
# loopback: the relays on CPU 0, the harness (teleconsult-load) on CPU 1.
#
#   scripts/bench-relay.sh            # everything, about 15 minutes
#   OUT=dir STEP=20 DURATION=10 scripts/bench-relay.sh
#
# Measures, for both relays: the most relayed 1:1 consultations (relay-stress
# traffic of a consultation, both legs through the relay) that hold the SLO
# (loss <= 1 %, p99 <= 150 ms); relay CPU per forwarded packet and the
# latency the relay adds at a load below capacity; memory per allocation;
# turnutils_uclient against both. Then join latency at 20 joins/s against
# the product's server, and relayed WebRTC consultations through each
# relay. Results (JSON, SVG charts, logs) go to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-target/bench-relay}
START=${START:-20}
STEP=${STEP:-20}
MAX=${MAX:-400}
DURATION=${DURATION:-10}
BELOW=${BELOW:-40}          # sessions for CPU/latency "below capacity"
MEMORY_SESSIONS=${MEMORY_SESSIONS:-500}
SECRET="bench-$(date +%s)-$$"
OURS_PORT=3479
COTURN_PORT=3480
SERVER_PORT=8099

cargo build --release --locked -p load-tests -p signaling
LOAD=target/release/teleconsult-load
source scripts/relays.sh
mkdir -p "$OUT"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

cpu_of() { # user+system CPU seconds of a process
  awk '{ sub(/.*\) /, ""); print ($12 + $13) / 100 }' "/proc/$1/stat"
}

# Each measurement gets a fresh relay process, so that one measurement's
# leftovers (allocations still expiring, ports in use) cannot weigh on the
# next: `fresh ours|coturn` (re)starts it and sets PORT and PID.
fresh() {
  if [ -n "${PID:-}" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  if [ "$1" = ours ]; then PORT=$OURS_PORT; else PORT=$COTURN_PORT; fi
  RELAY_LOG="$OUT/$1.log" start_relay "$1" "$PORT" "$SECRET"
  PIDS+=("$PID")
  echo "($1: fresh process $PID on :$PORT)"
}

H="taskset -c 1 $LOAD"

for relay in ours coturn; do
  fresh $relay
  echo "== $relay: memory per allocation ($MEMORY_SESSIONS sessions, light traffic)"
  $H relay-stress --turn 127.0.0.1:$PORT --secret "$SECRET" --relay-pid $PID \
    --sessions "$MEMORY_SESSIONS" --size 100 --pps 1 --duration 3 \
    --json "$OUT/$relay-memory.json" | tee "$OUT/$relay-memory.txt" || true
  fresh $relay
  echo "== $relay: $BELOW sessions below capacity, with the direct baseline"
  $H relay-stress --turn 127.0.0.1:$PORT --secret "$SECRET" --relay-pid $PID \
    --sessions "$BELOW" --duration 20 --baseline \
    --json "$OUT/$relay-below.json" --charts "$OUT/$relay-below" | tee "$OUT/$relay-below.txt" || true
  fresh $relay
  echo "== $relay: capacity"
  $H relay-stress --turn 127.0.0.1:$PORT --secret "$SECRET" --relay-pid $PID \
    --find-capacity --sessions "$START" --step "$STEP" --max "$MAX" --duration "$DURATION" \
    --json "$OUT/$relay-capacity.json" --charts "$OUT/$relay-capacity" | tee "$OUT/$relay-capacity.txt" || true
  fresh $relay
  echo "== $relay: turnutils_uclient (100 clients, 200 messages of 1000 bytes, 1 ms apart)"
  read -r U P < <($LOAD credentials --secret "$SECRET")
  before=$(cpu_of $PID)
  taskset -c 1 turnutils_uclient -y -u "$U" -w "$P" -n 200 -l 1000 -m 100 -z 1 -p $PORT 127.0.0.1 \
    >"$OUT/$relay-uclient.txt" 2>&1 || true
  after=$(cpu_of $PID)
  echo "relay CPU during uclient: $(awk -v a="$after" -v b="$before" 'BEGIN { print a - b }') s" | tee -a "$OUT/$relay-uclient.txt"
  tail -n 6 "$OUT/$relay-uclient.txt"
done

echo "== product server: join storm, 100 joins at 20 joins/s"
DATA=$(mktemp -d)
taskset -c 0 target/release/teleconsult --data "$DATA" serve --config load-tests/harness.toml --insecure-http \
  --listen 127.0.0.1:$SERVER_PORT --relay-port 3481 >"$OUT/server.log" 2>&1 &
SERVER=$!; PIDS+=("$SERVER")
for _ in $(seq 50); do [ -f "$DATA/keys/api.token" ] && curl -sf http://127.0.0.1:$SERVER_PORT/healthz >/dev/null && break; sleep 0.2; done
$H storm --url http://127.0.0.1:$SERVER_PORT --data "$DATA" --server-pid $SERVER \
  --joins 100 --joins-per-second 20 --duration 3 --clip-frames 30 \
  --json "$OUT/storm.json" --charts "$OUT/storm" | tee "$OUT/storm.txt" || true

echo "== WebRTC consultations forced through each relay (10 rooms, 15 s)"
$H consult --url http://127.0.0.1:$SERVER_PORT --data "$DATA" --server-pid $SERVER \
  --rooms 10 --rate 2 --duration 15 --relay-only --clip-frames 30 \
  --json "$OUT/webrtc-ours.json" --charts "$OUT/webrtc-ours" | tee "$OUT/webrtc-ours.txt" || true
fresh coturn
$H consult --url http://127.0.0.1:$SERVER_PORT --data "$DATA" --server-pid $SERVER \
  --rooms 10 --rate 2 --duration 15 --relay-only --clip-frames 30 \
  --ice-turn "turn:127.0.0.1:$COTURN_PORT?transport=udp" --ice-secret "$SECRET" \
  --json "$OUT/webrtc-coturn.json" --charts "$OUT/webrtc-coturn" | tee "$OUT/webrtc-coturn.txt" || true
rm -rf "$DATA"
echo "results in $OUT"
