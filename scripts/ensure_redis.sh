#!/usr/bin/env bash
# Makes sure `redis-server` is on PATH for the tests (they start their own instance on a
# free port; they never use the machine's Redis or DB 0). Installs Debian's package if missing.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
echo "redis-server not found; installing Debian's redis-server package" >&2
if [ "$(id -u)" -eq 0 ]; then sudo_cmd=""; else sudo_cmd="sudo"; fi
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq redis-server >/dev/null
command -v redis-server >/dev/null
