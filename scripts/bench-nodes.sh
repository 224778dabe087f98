#!/usr/bin/env bash
# The load harness's consultation capacity on one node and on two nodes
# sharing one PostgreSQL trace and one Redis (issue 16), in interleaved
# rounds: per round, a capacity search on one node and one on two, the
# configuration that goes first alternating.
#
#   ROUNDS=2 QUOTA=15 START=4 STEP=2 MAX=40 DURATION=10 scripts/bench-nodes.sh
#
# Node A runs on CPU 0, node B on CPU 1 (`taskset`). This machine has two
# cores, which the bots (webrtc-rs participants playing AV1 and Opus) need
# too, so each node is also held to QUOTA % of its core by a cgroup (v1
# `cpu` controller, 10 ms period; root only): the nodes, not the bots, are
# then what runs out, and the ratio says whether a second node adds what
# the first gives. The rooms are relay-only (iceTransportPolicy relay,
# through the node's own TURN relay), so a room costs its node CPU for as
# long as it plays; with direct media a node only signals.
#
# Each search gets a fresh database on the throwaway PostgreSQL of
# scripts/services.sh (ports TELECONSULT_PG_PORT, default 55482, and
# TELECONSULT_REDIS_PORT, default 56409, so that it does not meet a test
# run's servers), fresh node processes and a fresh data directory. Room i
# goes to node i mod 2 (act created there, both participants connected
# there). A level holds when loss ≤ 1 %, p99 one-way latency ≤ 150 ms and
# every participant got the other's video (the harness's SLO).
#
# Output: one line per search and OUT/ (default target/bench-nodes) with
# each search's JSON report and the nodes' logs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-2}
QUOTA=${QUOTA:-15}
START=${START:-4}
STEP=${STEP:-2}
MAX=${MAX:-40}
DURATION=${DURATION:-10}
RATE=${RATE:-4}
OUT=${OUT:-target/bench-nodes}
export TELECONSULT_PG_PORT=${TELECONSULT_PG_PORT:-55482}
export TELECONSULT_REDIS_PORT=${TELECONSULT_REDIS_PORT:-56409}
export TELECONSULT_SERVICES_DIR=${TELECONSULT_SERVICES_DIR:-$PWD/target/bench-services}
export TELECONSULT_SERVICES_ENV=${TELECONSULT_SERVICES_ENV:-$PWD/target/bench-services.env}
CGROUP_ROOT=/sys/fs/cgroup/cpu

die() { echo "bench-nodes.sh: $*" >&2; exit 2; }
[ -w "$CGROUP_ROOT" ] || die "needs the cgroup v1 cpu controller at $CGROUP_ROOT, writable (run as root)"
[ "$(nproc)" -ge 2 ] || die "needs two cores (one per node)"

cargo build --release --locked -p signaling -p load-tests --bins
BIN=target/release/teleconsult
LOAD=target/release/teleconsult-load
scripts/services.sh up
set -a; . "$TELECONSULT_SERVICES_ENV"; set +a
mkdir -p "$OUT"

# A cgroup per node holding it to QUOTA % of a core.
for node in a b; do
  cg="$CGROUP_ROOT/teleconsult-bench-$node"
  mkdir -p "$cg"
  echo 10000 > "$cg/cpu.cfs_period_us"
  echo $((QUOTA * 100)) > "$cg/cpu.cfs_quota_us"
done

PIDS=()
stop_nodes() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
cleanup() {
  stop_nodes
  for node in a b; do rmdir "$CGROUP_ROOT/teleconsult-bench-$node" 2>/dev/null || true; done
}
trap cleanup EXIT

# start_node NAME CPU PORT DATA STORE LOG: node NAME in its cgroup, on CPU,
# serving plain HTTP on 127.0.0.1:PORT; waits until /healthz answers.
start_node() {
  local name=$1 cpu=$2 port=$3 data=$4 store=$5 log=$6
  sh -c 'echo $$ > "$0/cgroup.procs"; exec "$@"' "$CGROUP_ROOT/teleconsult-bench-$name" \
    taskset -c "$cpu" "$BIN" --data "$data" --store "$store" serve \
    --config load-tests/harness.toml --insecure-http --listen "127.0.0.1:$port" \
    --redis "$TELECONSULT_TEST_REDIS" --node-id "bench-$name" >"$log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return 0
    kill -0 "${PIDS[-1]}" 2>/dev/null || die "node $name exited: see $log"
    sleep 0.1
  done
  die "node $name never answered /healthz: see $log"
}

# search ROUND NODES: one capacity search on NODES (1 or 2) fresh nodes.
search() {
  local round=$1 nodes=$2
  local tag="r$round-n$nodes" db="bench_nodes_${round}_${nodes}_$$"
  local data="$OUT/$tag.data"
  rm -rf "$data"
  psql -q "$TELECONSULT_TEST_PG" -c "CREATE DATABASE $db" >/dev/null
  local store="${TELECONSULT_TEST_PG%/*}/$db"
  local urls=() pids=()
  start_node a 0 18481 "$data" "$store" "$OUT/$tag.node-a.log"
  urls+=(--url http://127.0.0.1:18481); pids+=(--server-pid "${PIDS[-1]}")
  if [ "$nodes" = 2 ]; then
    start_node b 1 18482 "$data" "$store" "$OUT/$tag.node-b.log"
    urls+=(--url http://127.0.0.1:18482); pids+=(--server-pid "${PIDS[-1]}")
  fi
  # A fresh Redis holds claims for one lease TTL (its restart guard).
  sleep 6
  local start=$START
  [ "$nodes" = 2 ] && start=$((START * 2))
  "$LOAD" consult "${urls[@]}" "${pids[@]}" --data "$data" --relay-only \
    --find-capacity --rooms "$start" --step "$STEP" --max "$MAX" \
    --rate "$RATE" --duration "$DURATION" --clip-frames 30 \
    --json "$OUT/$tag.json" >"$OUT/$tag.out" 2>"$OUT/$tag.err" || true
  stop_nodes
  psql -q "$TELECONSULT_TEST_PG" -c "DROP DATABASE $db" >/dev/null || true
  local capacity held broke
  capacity=$(jq -r '.capacity_rooms // "none"' "$OUT/$tag.json")
  # At the highest level that held and at the first that broke: the nodes'
  # and the harness's mean CPU (cores, in %), and what broke.
  held=$(jq -r '[.steps[] | select(.breaches == [])] | last
    | if . == null then "-" else "nodes \([.result.nodes[] | (.cpu | add / length * 100 | round | tostring)] | join(" + ")) %, harness \(.result.harness.cpu | add / length * 100 | round) %" end' "$OUT/$tag.json")
  broke=$(jq -r '[.steps[] | select(.breaches != [])] | first
    | if . == null then "none (reached MAX)" else "\(.load) rooms: nodes \([.result.nodes[] | (.cpu | add / length * 100 | round | tostring)] | join(" + ")) %, harness \(.result.harness.cpu | add / length * 100 | round) % (peak \(.result.harness.cpu | max * 100 | round) %), loss \(.result.loss * 100 * 100 | round / 100) %, p99 \(.result.latency_ms.p99 | round) ms" end' "$OUT/$tag.json")
  echo "round $round, $nodes node(s): capacity $capacity rooms (CPU: $held); broke at $broke"
}

echo "quota ${QUOTA} % of a core per node, relay-only 1:1 consultations, ${DURATION} s each, steps of $STEP from $START per node"
for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order="1 2"; else order="2 1"; fi
  for nodes in $order; do search "$round" "$nodes"; done
done
