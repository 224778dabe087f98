#!/usr/bin/env bash
# Installs the system packages the build and the tests need, if missing.
# Safe to run again: it installs only what is absent.
set -euo pipefail

need=()
command -v cmake    >/dev/null 2>&1 || need+=(cmake)          # opus builds libopus with it
command -v nasm     >/dev/null 2>&1 || need+=(nasm)           # rav1e's assembly
command -v sqlite3  >/dev/null 2>&1 || need+=(sqlite3)        # tamper tests use the real shell
command -v cc       >/dev/null 2>&1 || need+=(build-essential)
command -v node     >/dev/null 2>&1 || need+=(nodejs)         # browser tests
command -v npm      >/dev/null 2>&1 || need+=(npm)
[ -x /usr/bin/chromium ]            || need+=(chromium chromium-driver)
command -v turnutils_uclient >/dev/null 2>&1 || need+=(coturn) # media relay tests drive its test client
command -v ip       >/dev/null 2>&1 || need+=(iproute2)       # fault-injection tests make network namespaces
command -v tc       >/dev/null 2>&1 || need+=(iproute2)
command -v faketime >/dev/null 2>&1 || need+=(faketime)       # the overdue test runs the server hours ahead (libfaketime)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils) # the compte rendu's tests read the PDF (pdftotext) and render page 1 (pdftoppm)
command -v pdftoppm  >/dev/null 2>&1 || need+=(poppler-utils)
# The trace on PostgreSQL and act ownership on Redis: scripts/services.sh
# runs clusters of its own, so Debian's own services are stopped below.
servers=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || servers+=(postgresql)
command -v redis-server >/dev/null 2>&1 || servers+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || servers+=(redis-tools)
command -v ss       >/dev/null 2>&1 || need+=(iproute2)       # services-test.sh checks nothing listens after down
need+=("${servers[@]}")

if [ ${#need[@]} -gt 0 ]; then
  echo "installing system packages: ${need[*]}"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  # Debian starts a package's service at install (where it can): forbid it
  # for the duration, the project runs its own servers.
  policy=""
  if [ ${#servers[@]} -gt 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee "$policy" >/dev/null
    $sudo_cmd chmod 755 "$policy"
  fi
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
  if [ -n "$policy" ]; then $sudo_cmd rm -f "$policy"; fi
  # Where a service started anyway (systemd), stop it: nothing depends on it.
  for s in "${servers[@]}"; do
    $sudo_cmd service "$s" stop >/dev/null 2>&1 || true
  done
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install Rust (rustup) first" >&2
  exit 1
fi
