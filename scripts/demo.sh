#!/usr/bin/env bash
# The main job, for now: record a téléconsultation in the act trace, show
# it, export it and verify it. (The live video session comes with the
# signaling server; this script will then start it.)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo build --release --locked -p signaling
bin=target/release/teleconsult
data=${TELECONSULT_DATA:-demo-data}
export TELECONSULT_DATA=$data

id=$($bin act create --kind teleconsultation \
  --professional "Dr Exemple Demo" --rpps 10000000009 --patient demo-0001 --json \
  | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
echo "created act $id in $data/"
echo
$bin trace show "$id"
echo
$bin trace export "$id" --format json --output "$data/act-$id.json"
echo "exported to $data/act-$id.json"
$bin trace verify
