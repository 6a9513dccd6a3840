#!/usr/bin/env bash
# What the tests drive, from Debian: Chromium, ffmpeg, openssl (certificates), iproute2 and
# iptables (private network namespaces), libopus (the server's Opus), redis-server (the
# cluster tests' own Redis, started and ended by them). Missing ones are installed
# when this runs as root with apt-get; otherwise it stops with one line saying what to install.
set -euo pipefail

need=()
if [ -z "${CHROMIUM_PATH:-}" ] || [ ! -x "${CHROMIUM_PATH}" ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
{ command -v dpkg >/dev/null 2>&1 && dpkg -s libopus0 >/dev/null 2>&1; } ||
  ldconfig -p 2>/dev/null | grep -q 'libopus\.so\.0' || need+=(libopus0)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing from Debian: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "The tests need ${need[*]}: install with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
