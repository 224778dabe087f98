#!/usr/bin/env bash
# Prints every import cycle between sibling modules of each crate of the
# workspace, with the file and line of each import; exits 1 if there is one.
# `--edges` also prints every dependency between sibling modules.
# The same check runs in the tests (module-graph/tests/workspace_has_no_cycle.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --locked -p module-graph -- . "$@"
