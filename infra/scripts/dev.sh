#!/usr/bin/env bash
# `make dev`: DynamoDB Local on disk (data survives restarts, under .local/) and the local
# gateway on 127.0.0.1:$PORT. Ctrl-C stops both.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
PORT="${PORT:-3000}"
DYNAMODB_PORT="${DYNAMODB_PORT:-8000}"
state=.local
mkdir -p "$state/dynamodb"

cargo build -q -p local-gateway

infra/scripts/dynamodb-local.sh start --port "$DYNAMODB_PORT" --db-path "$state/dynamodb" \
  --pid-file "$state/dynamodb.pid" --log "$state/dynamodb.log"
trap 'infra/scripts/dynamodb-local.sh stop --pid-file "$state/dynamodb.pid"' EXIT

DYNAMODB_ENDPOINT="http://127.0.0.1:$DYNAMODB_PORT" PORT="$PORT" target/debug/local-gateway serve
