#!/usr/bin/env bash
# Relay CPU per packet, ours against coturn, in interleaved rounds: each
# round starts a fresh process of each relay on CPU 0 and sends 40 relayed
# sessions for 15 s from the harness on CPU 1 (see docs/BENCHMARKS.md).
# The rounds of bench-relay-rounds.sh at one load below both capacities.
ROUNDS=${ROUNDS:-3} LEVELS=40 DURATION=15 ALTERNATE=0 \
  exec "$(dirname "$0")/bench-relay-rounds.sh"
