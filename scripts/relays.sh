# Sourced by the relay benchmarks: `start_relay RELAY PORT SECRET` starts
# that relay on CPU 0 (inside the cgroup RELAY_CGROUP when set), listening
# on 127.0.0.1:PORT, and sets PID. RELAY is one of:
#   ours         teleconsult-load relay (the media crate's relay alone)
#   coturn       Debian's coturn 4.6.1 (`turnserver` on the PATH)
#   coturn417    coturn 4.17.1 built by ../shared/anchors/build-coturn.sh
#                (COTURN417, default /opt/coturn-4.17.1/bin/turnserver),
#                its defaults (batched receive on)
#   coturn417mp  the same with --multiplex-peer --udp-gso (its fastest)
#   before       our relay from another build: OURS_BEFORE, a teleconsult-load
#                binary (e.g. built at the commit before a change)
# Needs LOAD (the teleconsult-load binary); logs append to RELAY_LOG.
COTURN417=${COTURN417:-/opt/coturn-4.17.1/bin/turnserver}
start_relay() {
  local log=${RELAY_LOG:-/dev/null} relay=$1 port=$2 secret=$3
  local -a run=(taskset -c 0)
  if [ -n "${RELAY_CGROUP:-}" ]; then
    run=(sh -c 'echo $$ > "$0/cgroup.procs"; exec "$@"' "$RELAY_CGROUP" taskset -c 0)
  fi
  local -a coturn_flags=(-n --listening-ip=127.0.0.1 --relay-ip=127.0.0.1
    --listening-port="$port" --use-auth-secret --static-auth-secret="$secret"
    --realm=bench --fingerprint --no-tls --no-dtls --no-cli --allow-loopback-peers
    --no-stdout-log --log-file=/dev/null --min-port=20000 --max-port=39999
    --total-quota=0 --user-quota=0)
  case "$relay" in
    # shellcheck disable=SC2086
    ours) "${run[@]}" "$LOAD" relay --listen "127.0.0.1:$port" --secret "$secret" ${OURS_FLAGS:-} >>"$log" 2>&1 & ;;
    # shellcheck disable=SC2086
    before) "${run[@]}" "$OURS_BEFORE" relay --listen "127.0.0.1:$port" --secret "$secret" ${OURS_FLAGS:-} >>"$log" 2>&1 & ;;
    coturn) "${run[@]}" turnserver "${coturn_flags[@]}" >>"$log" 2>&1 & ;;
    coturn417) "${run[@]}" "$COTURN417" "${coturn_flags[@]}" >>"$log" 2>&1 & ;;
    coturn417mp) "${run[@]}" "$COTURN417" "${coturn_flags[@]}" --multiplex-peer --udp-gso >>"$log" 2>&1 & ;;
    *) echo "unknown relay $relay" >&2; return 1 ;;
  esac
  PID=$!
  # coturn 4.17.1 takes over a second to open its listener: wait for it
  # (then one more second for its other threads).
  for _ in $(seq 100); do
    ss -Hlun "sport = :$port" | grep -q . && break
    sleep 0.1
  done
  sleep 1
}
