#!/usr/bin/env bash
# The test of scripts/services.sh: up (twice: idempotent), env (mode 0600), both
# servers answer (an SQL query as the teleconsult role over TCP with the
# env file's password; a Redis PING), down (twice), and nothing left
# listening on either port. Run by scripts/test.sh before it brings the
# services up for the Rust tests; uses ports of its own (default 55442 and
# 56389, or TELECONSULT_SERVICES_TEST_PG_PORT / ..._REDIS_PORT).
set -euo pipefail
cd "$(dirname "$0")/.."

export TELECONSULT_PG_PORT=${TELECONSULT_SERVICES_TEST_PG_PORT:-55442}
export TELECONSULT_REDIS_PORT=${TELECONSULT_SERVICES_TEST_REDIS_PORT:-56389}
# Servers and env file of its own, apart from the test suite's.
export TELECONSULT_SERVICES_DIR="$(pwd)/target/services-test"
export TELECONSULT_SERVICES_ENV="$(pwd)/target/services-test.env"
trap 'scripts/services.sh down >/dev/null 2>&1 || true; rm -rf "$TELECONSULT_SERVICES_DIR" "$TELECONSULT_SERVICES_ENV"' EXIT

fail() { echo "services-test: FAIL: $*" >&2; exit 1; }
listening() { ss -Hltn "sport = :$1" | grep -q .; }

scripts/services.sh up
scripts/services.sh up   # idempotent: already running
env_text=$(scripts/services.sh env)
grep -q "^TELECONSULT_TEST_PG=postgres://teleconsult:.*@127.0.0.1:$TELECONSULT_PG_PORT/postgres$" <<<"$env_text" \
  || fail "env file lacks TELECONSULT_TEST_PG: $env_text"
grep -q "^TELECONSULT_TEST_REDIS=redis://127.0.0.1:$TELECONSULT_REDIS_PORT$" <<<"$env_text" \
  || fail "env file lacks TELECONSULT_TEST_REDIS"
[ "$(stat -c %a "$TELECONSULT_SERVICES_ENV")" = 600 ] || fail "the env file (it holds a password) is not 0600"
pg_url=$(sed -n 's/^TELECONSULT_TEST_PG=//p' <<<"$env_text")
answer=$(psql "$pg_url" -Atc "SELECT current_user || ' ' || current_setting('synchronous_commit') || ' ' || current_setting('fsync')") \
  || fail "PostgreSQL does not answer the teleconsult role on port $TELECONSULT_PG_PORT"
[ "$answer" = "teleconsult on on" ] || fail "PostgreSQL answered $answer, not 'teleconsult on on'"
# A wrong password is refused: password authentication is on over TCP.
if psql "postgres://teleconsult:wrong@127.0.0.1:$TELECONSULT_PG_PORT/postgres" -Atc 'SELECT 1' >/dev/null 2>&1; then
  fail "PostgreSQL accepted a wrong password"
fi
[ "$(redis-cli -h 127.0.0.1 -p "$TELECONSULT_REDIS_PORT" ping)" = PONG ] || fail "Redis does not answer PING"
[ "$(redis-cli -h 127.0.0.1 -p "$TELECONSULT_REDIS_PORT" config get save | tail -1)" = "" ] || fail "Redis persists (save is set)"
scripts/services.sh down
scripts/services.sh down  # idempotent: already stopped
listening "$TELECONSULT_PG_PORT" && fail "something still listens on $TELECONSULT_PG_PORT after down"
listening "$TELECONSULT_REDIS_PORT" && fail "something still listens on $TELECONSULT_REDIS_PORT after down"
echo "services-test: ok"
