#!/usr/bin/env bash
# Starts or stops the SQS emulator (moto's server, from .venv).
#   sqs-local.sh start --port N --pid-file F --log F
#   sqs-local.sh stop --pid-file F
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cmd="${1:-}"; shift || true
port=9324 pid_file="" log=/dev/null
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port="$2"; shift 2 ;;
    --pid-file) pid_file="$2"; shift 2 ;;
    --log) log="$2"; shift 2 ;;
    *) echo "sqs-local: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$pid_file" ] || { echo "sqs-local: --pid-file is required" >&2; exit 2; }

case "$cmd" in
  start)
    [ -x "$root/.venv/bin/moto_server" ] || "$root/infra/scripts/python-venv.sh"
    nohup "$root/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
    echo $! >"$pid_file"
    wait_for_http "http://127.0.0.1:$port/moto-api/" "$pid_file" "$log" "SQS emulator"
    ;;
  stop)
    stop_pid "$pid_file"
    ;;
  *) echo "usage: sqs-local.sh start|stop ..." >&2; exit 2 ;;
esac
