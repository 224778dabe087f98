#!/usr/bin/env bash
# Memory per allocation of relays, the issue-4 method, in interleaved rounds:
# each relay starts fresh on CPU 0 (scripts/relays.sh), the harness on CPU 1
# sets up 500 sessions of two TURN clients (1,000 allocations), sends one
# 100-byte packet a second for 3 s, and reports the relay's memory before and
# with the allocations: VmRSS and RssAnon (anonymous: what the allocations
# hold, without the executable's code pages first run while serving).
#
#   LOAD=target/release/teleconsult-load OURS_BEFORE=<an older build> \
#   RELAYS="ours before" ROUNDS=3 scripts/bench-relay-memory.sh
#
# RELAYS: any of relays.sh's names. SESSIONS (500) changes the count.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${LOAD:=target/release/teleconsult-load}"
RELAYS=${RELAYS:-ours before}
ROUNDS=${ROUNDS:-3}
SESSIONS=${SESSIONS:-500}
SECRET=bench-memory
# shellcheck source=scripts/relays.sh
source scripts/relays.sh
for round in $(seq "$ROUNDS"); do
  for relay in $RELAYS; do
    port=$((3670 + round))
    start_relay "$relay" "$port" "$SECRET"
    out=$(taskset -c 1 "$LOAD" relay-stress --turn "127.0.0.1:$port" --secret "$SECRET" \
      --relay-pid "$PID" --sessions "$SESSIONS" --size 100 --pps 1 --duration 3 2>&1 || true)
    rss=$(grep -a '^relay RSS' <<<"$out" | sed 's/relay RSS: //')
    anon=$(grep -a '^relay anonymous' <<<"$out" | sed 's/.*pages): //')
    result=$(grep -a 'sessions,' <<<"$out" | sed 's/.*loss/loss/')
    echo "round $round $relay: rss $rss | anon $anon  [$result]"
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    sleep 1
  done
done
