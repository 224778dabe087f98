# Sourced by the relay benchmarks: `start_relay ours|coturn PORT SECRET`
# starts that relay on CPU 0, listening on 127.0.0.1:PORT, and sets PID.
# Needs LOAD (the teleconsult-load binary); logs append to RELAY_LOG.
start_relay() {
  local log=${RELAY_LOG:-/dev/null}
  if [ "$1" = ours ]; then
    taskset -c 0 "$LOAD" relay --listen "127.0.0.1:$2" --secret "$3" >>"$log" 2>&1 &
  else
    taskset -c 0 turnserver -n --listening-ip=127.0.0.1 --relay-ip=127.0.0.1 \
      --listening-port="$2" --use-auth-secret --static-auth-secret="$3" \
      --realm=bench --fingerprint --no-tls --no-dtls --no-cli --allow-loopback-peers \
      --no-stdout-log --log-file=/dev/null --min-port=20000 --max-port=39999 \
      --total-quota=0 --user-quota=0 >>"$log" 2>&1 &
  fi
  PID=$!
  sleep 1
}
