#!/usr/bin/env bash
# The relayed first frame of the harness's bots (issue 17): ROOMS relay-forced
# 1:1 consultations per measurement, each against a fresh `teleconsult serve`
# (--spawn-server), with the bots' ICE timers of each setting, the settings
# interleaved in ROUNDS rounds (the first setting alternating). Prints join →
# ICE connected and join → first whole frame, p50 and p95, per measurement.
#
#   ROUNDS=3 ROOMS=20 scripts/bench-first-frame.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
ROOMS=${ROOMS:-20}
OUT=${OUT:-target/bench-first-frame}
cargo build --release --locked -p signaling -p load-tests --bins
mkdir -p "$OUT"
# name|flags
# (Since issue 17, --relay-only bots default to the third setting; each
# setting is spelt out in full.)
SETTINGS=(
  "default|--ice-check-interval-ms 200 --ice-max-binding-requests 7 --ice-keepalive-ms 500"
  "check-20ms|--ice-check-interval-ms 20 --ice-max-binding-requests 100 --ice-keepalive-ms 500"
  "check-20ms+keepalive-50ms|--ice-check-interval-ms 20 --ice-max-binding-requests 100 --ice-keepalive-ms 50"
)
for round in $(seq "$ROUNDS"); do
  order=("${SETTINGS[@]}")
  if [ $((round % 2)) = 0 ]; then order=("${SETTINGS[2]}" "${SETTINGS[1]}" "${SETTINGS[0]}"); fi
  for s in "${order[@]}"; do
    name=${s%%|*}; flags=${s#*|}
    json="$OUT/r$round-$name.json"
    # shellcheck disable=SC2086
    target/release/teleconsult-load consult --spawn-server target/release/teleconsult \
      --relay-only --rooms "$ROOMS" --rate 4 --duration 6 --clip-frames 30 $flags \
      --json "$json" >"$OUT/r$round-$name.out" 2>&1 || true
    jq -r --arg r "$round" --arg n "$name" '.steps[0].result as $x |
      "round \($r) \($n): ICE connected p50 \($x.ice_connected_ms.p50|round) p95 \($x.ice_connected_ms.p95|round) ms; first frame p50 \($x.first_frame_ms.p50|round) p95 \($x.first_frame_ms.p95|round) ms; loss \($x.loss*100) %, join failures \($x.join_failures)"' "$json"
  done
done
