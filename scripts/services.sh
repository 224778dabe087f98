#!/usr/bin/env bash
# Throwaway servers for the tests: a PostgreSQL 15 cluster and a Redis,
# both on loopback, both under target/services/, both gone with `down`.
#
#   scripts/services.sh up     start both (if not running), wait until each
#                              answers, write target/services.env
#   scripts/services.sh down   stop both
#   scripts/services.sh env    print target/services.env
#
# Ports: TELECONSULT_PG_PORT (default 55432), TELECONSULT_REDIS_PORT (default
# 56379); where: TELECONSULT_SERVICES_DIR (default target/services) and
# TELECONSULT_SERVICES_ENV (default target/services.env). Idempotent: `up` on running servers only rewrites the env file;
# `down` on stopped ones does nothing.
#
# PostgreSQL: data and socket in target/services/pg, fsync and
# synchronous_commit on (the store's durability is what the tests check), a
# role `teleconsult` (LOGIN CREATEDB, password over TCP, scram-sha-256) for
# the store and its tests. As root (CI), initdb and pg_ctl run as the
# `postgres` user. Redis: no persistence (no RDB, no AOF).
#
# The env file (mode 0600) holds:
#   TELECONSULT_TEST_PG=postgres://teleconsult:PW@127.0.0.1:PORT/postgres
#   TELECONSULT_TEST_REDIS=redis://127.0.0.1:PORT
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT=$(pwd)
SERVICES=${TELECONSULT_SERVICES_DIR:-"$ROOT/target/services"}
PG_DIR="$SERVICES/pg"
PG_DATA="$PG_DIR/data"
PG_LOG="$PG_DIR/postgres.log"
PG_PORT=${TELECONSULT_PG_PORT:-55432}
REDIS_DIR="$SERVICES/redis"
REDIS_PORT=${TELECONSULT_REDIS_PORT:-56379}
ENV_FILE=${TELECONSULT_SERVICES_ENV:-"$ROOT/target/services.env"}
PW_FILE="$PG_DIR/teleconsult.password"
WAIT_SECONDS=${TELECONSULT_SERVICES_TIMEOUT:-30}

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
[ -x "$PG_BIN/initdb" ] || PG_BIN=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")

die() { echo "services.sh: $*" >&2; exit 1; }

# Runs a PostgreSQL server program as the cluster's owner: `postgres` when
# we are root (initdb and postgres refuse root), ourselves otherwise.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
  else
    "$@"
  fi
}

pg_running() {
  [ -f "$PG_DATA/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

redis_running() {
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG
}

pg_up() {
  [ -x "$PG_BIN/initdb" ] || die "PostgreSQL 15 is not installed (no initdb in $PG_BIN); run scripts/install-deps.sh"
  mkdir -p "$PG_DIR"
  if [ ! -s "$PW_FILE" ]; then
    (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$PW_FILE")
  fi
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$PG_DIR"; chown root: "$PW_FILE"; fi
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    rm -rf "$PG_DATA"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      --encoding=UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
      || { cat "$PG_DIR/initdb.log" >&2; die "PostgreSQL: initdb failed in $PG_DATA"; }
  fi
  if ! pg_running; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$WAIT_SECONDS" \
      -o "$(printf -- "-c listen_addresses=127.0.0.1 -c port=%s -c unix_socket_directories=%s -c fsync=on -c synchronous_commit=on -c max_connections=200" "$PG_PORT" "$PG_DIR")" \
      start >/dev/null \
      || { tail -20 "$PG_LOG" >&2 || true; die "PostgreSQL did not start on 127.0.0.1:$PG_PORT (log: $PG_LOG)"; }
  fi
  local waited=0
  until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; do
    waited=$((waited + 1))
    [ "$waited" -le "$WAIT_SECONDS" ] || die "PostgreSQL does not answer on 127.0.0.1:$PG_PORT after ${WAIT_SECONDS}s (log: $PG_LOG)"
    sleep 1
  done
  # The role the store and the tests use; its password set anew each time
  # (the file is the source of truth).
  local pw; pw=$(cat "$PW_FILE")
  as_pg "$PG_BIN/psql" -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U postgres -d postgres >/dev/null <<SQL \
    || die "PostgreSQL: cannot create the role teleconsult"
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'teleconsult') THEN
    CREATE ROLE teleconsult LOGIN CREATEDB;
  END IF;
END \$\$;
ALTER ROLE teleconsult LOGIN CREATEDB PASSWORD '$pw';
SQL
}

redis_up() {
  command -v redis-server >/dev/null 2>&1 || die "Redis is not installed (no redis-server); run scripts/install-deps.sh"
  mkdir -p "$REDIS_DIR"
  if ! redis_running; then
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes \
      --save '' --appendonly no --dir "$REDIS_DIR" \
      --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" \
      || die "Redis did not start on 127.0.0.1:$REDIS_PORT (log: $REDIS_DIR/redis.log)"
  fi
  local waited=0
  until redis_running; do
    waited=$((waited + 1))
    [ "$waited" -le "$WAIT_SECONDS" ] || die "Redis does not answer on 127.0.0.1:$REDIS_PORT after ${WAIT_SECONDS}s (log: $REDIS_DIR/redis.log)"
    sleep 1
  done
}

write_env() {
  local pw; pw=$(cat "$PW_FILE")
  (umask 077; cat >"$ENV_FILE" <<EOF
TELECONSULT_TEST_PG=postgres://teleconsult:$pw@127.0.0.1:$PG_PORT/postgres
TELECONSULT_TEST_REDIS=redis://127.0.0.1:$REDIS_PORT
EOF
  )
}

pg_down() {
  if pg_running; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t "$WAIT_SECONDS" stop >/dev/null \
      || die "PostgreSQL on 127.0.0.1:$PG_PORT did not stop"
  fi
}

redis_down() {
  if redis_running; then
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    local waited=0
    while redis_running; do
      waited=$((waited + 1))
      [ "$waited" -le "$WAIT_SECONDS" ] || die "Redis on 127.0.0.1:$REDIS_PORT did not stop"
      sleep 1
    done
  fi
  rm -f "$REDIS_DIR/redis.pid"
}

case "${1:-}" in
  up)
    mkdir -p "$SERVICES"
    pg_up
    redis_up
    write_env
    ;;
  down)
    pg_down
    redis_down
    ;;
  env)
    [ -f "$ENV_FILE" ] || die "no $ENV_FILE: run scripts/services.sh up"
    cat "$ENV_FILE"
    ;;
  *)
    echo "usage: scripts/services.sh up|down|env" >&2
    exit 2
    ;;
esac
