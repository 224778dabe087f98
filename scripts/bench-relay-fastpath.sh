#!/usr/bin/env bash
# The relay's fast path against coturn 4.6.1 (Debian) and coturn 4.17.1
# (built from source, its defaults and --multiplex-peer --udp-gso), in
# interleaved rounds (docs/BENCHMARKS.md, issue 17). Each round, each load
# level and each relay get a fresh relay process on CPU 0 and the harness
# on CPU 1; the order of the relays rotates from round to round.
#
# Traffic: relay-stress with --peers-outside (one TURN client and a plain
# UDP peer per session, a consultation's traffic each way, every packet
# across the relay once): the only traffic coturn's --multiplex-peer
# relays. MODE=both-legs runs the two-TURN-clients traffic instead (for
# the relays that carry it).
#
#   ROUNDS=3 LEVELS="40 160" DURATION=15 scripts/bench-relay-fastpath.sh
#   CAP=25 BASELINE=0 RELAYS="ours coturn" LEVELS="60 80 100 120 140 160" DURATION=8 scripts/bench-relay-fastpath.sh
#     (capacity: each relay held to 25 % of its core)
#
# CAP (optional, needs root and the cgroup v1 cpu controller at
# /sys/fs/cgroup/cpu): holds each relay to CAP % of its core, so that a
# relay runs out of CPU before the harness (on one core) does.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
LEVELS=${LEVELS:-"40 160"}
DURATION=${DURATION:-15}
RELAYS=${RELAYS:-"ours coturn coturn417 coturn417mp"}
MODE=${MODE:-outside}
CAP=${CAP:-}
# LOAD: a copy of the harness binary to use (so that builds during a run
# do not change it); by default, built here.
if [ -z "${LOAD:-}" ]; then
  cargo build --release --locked -p load-tests
  LOAD=target/release/teleconsult-load
fi
source scripts/relays.sh
[ -x "$COTURN417" ] || COTURN417=$(bash ../shared/anchors/build-coturn.sh | tail -1)
if [ -n "$CAP" ]; then
  cg=/sys/fs/cgroup/cpu/teleconsult-bench-relay
  mkdir -p "$cg"
  echo 10000 > "$cg/cpu.cfs_period_us"
  echo $((CAP * 100)) > "$cg/cpu.cfs_quota_us"
  export RELAY_CGROUP=$cg
fi
flags=(--peers-outside)
[ "$MODE" = both-legs ] && flags=()
# BASELINE=0: no direct run after each measurement (capacity searches).
[ "${BASELINE:-1}" = 1 ] && flags+=(--baseline)
SECRET=fastpath-$$
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null' EXIT
read -r -a relays <<<"$RELAYS"
n=${#relays[@]}
echo "mode $MODE, ${CAP:-100} % of a core per relay, $DURATION s per level, levels $LEVELS"
for round in $(seq "$ROUNDS"); do
  for level in $LEVELS; do
    for k in $(seq 0 $((n - 1))); do
      relay=${relays[$(((k + round - 1) % n))]}
      PORT=$((3600 + k))
      start_relay "$relay" "$PORT" "$SECRET"
      if out=$(taskset -c 1 $LOAD relay-stress --turn 127.0.0.1:$PORT --secret "$SECRET" \
        --relay-pid "$PID" --sessions "$level" --duration "$DURATION" "${flags[@]}" 2>&1); then held=held; else held=BROKE; fi
      loss=$(echo "$out" | grep -aE 'sessions,' | sed 's/.*loss \([0-9.]*\) %.*/\1/' | head -1 || true)
      p99=$(echo "$out" | grep -aE '^one-way latency via relay' | awk '{print $7}' || true)
      p99d=$(echo "$out" | grep -aE '^one-way latency direct' | awk '{print $7}' || true)
      core=$(echo "$out" | grep -aE '^relay:' | sed 's/.*(\([0-9]*\) % of a core).*/\1/' || true)
      per=$(echo "$out" | grep -aE '^relay:' | sed 's/.*, \([0-9.]*\) µs per packet.*/\1/' || true)
      rss=$(echo "$out" | grep -aE '^relay RSS' | sed 's/.*, \([0-9.]*\) KiB per allocation.*/\1/' || true)
      echo "round $round $level $relay: $held loss $loss % p99 $p99 ms (direct $p99d ms), relay at $core % of a core, $per µs/packet, $rss KiB/allocation"
      kill "$PID"; wait "$PID" 2>/dev/null || true
    done
  done
done
