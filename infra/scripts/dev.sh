#!/usr/bin/env bash
# `make dev`: DynamoDB Local on disk (data survives restarts, under .local/), the SQS
# emulator and the local gateway on 127.0.0.1:$PORT. Ctrl-C stops all three.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
# Where cargo put the binaries: CARGO_TARGET_DIR when it is set, as for cargo itself.
bin="${CARGO_TARGET_DIR:-target}/debug"
PORT="${PORT:-3000}"
DYNAMODB_PORT="${DYNAMODB_PORT:-8000}"
SQS_PORT="${SQS_PORT:-9324}"
state=.local
mkdir -p "$state/dynamodb"

cargo build -q -p local-gateway

infra/scripts/dynamodb-local.sh start --port "$DYNAMODB_PORT" --db-path "$state/dynamodb" \
  --pid-file "$state/dynamodb.pid" --log "$state/dynamodb.log"
trap 'infra/scripts/dynamodb-local.sh stop --pid-file "$state/dynamodb.pid"; infra/scripts/sqs-local.sh stop --pid-file "$state/sqs.pid"' EXIT
# The emulator keeps queues in memory; the gateway recreates them at every start.
infra/scripts/sqs-local.sh start --port "$SQS_PORT" --pid-file "$state/sqs.pid" --log "$state/sqs.log"

DYNAMODB_ENDPOINT="http://127.0.0.1:$DYNAMODB_PORT" SQS_ENDPOINT="http://127.0.0.1:$SQS_PORT" \
  PORT="$PORT" "$bin"/local-gateway serve
