#!/usr/bin/env bash
# `make test`: formatting and lints, cfn-lint on template.yaml, then every test against a
# fresh in-memory DynamoDB Local that is stopped afterwards, pass or fail.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
# Where cargo put the binaries: CARGO_TARGET_DIR when it is set, as for cargo itself.
bin="${CARGO_TARGET_DIR:-target}/debug"
state=.local/test
mkdir -p "$state"

step() { printf '\n==> %s\n' "$*"; }
# shellcheck source=lib.sh
source infra/scripts/lib.sh

step "cargo fmt --check"
cargo fmt --all --check

# With AWS's serverless rules (cfn-lint-serverless): a finding suppressed in the template
# says why beside its ignore_checks.
step "cfn-lint template.yaml"
.venv/bin/cfn-lint template.yaml --append-rules cfn_lint_serverless.rules

# As AsyncAPI tools read it, its reference into infra/openapi.yaml followed; the black-box
# tests hold what the server sends to its schemas.
step "AsyncAPI parser on infra/asyncapi.yaml"
node infra/scripts/asyncapi-validate.mjs

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "build (the Runtime API tests run the function binaries)"
cargo build --workspace --bins --tests

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
stop() {
  infra/scripts/dynamodb-local.sh stop --pid-file "$state/dynamodb.pid"
  infra/scripts/sqs-local.sh stop --pid-file "$state/sqs.pid"
}
trap stop EXIT

# start_gateway TABLE: a local gateway of its own on TABLE (no background sweeps), on a free
# port ($gateway_port), stopped by stop_gateway or on exit.
start_gateway() {
  gateway_port="$(free_port)"
  PORT="$gateway_port" TABLE_NAME="$1" SWEEP_INTERVAL_SECS=3600 RUST_LOG=error \
    DYNAMODB_ENDPOINT="http://127.0.0.1:$ddb_port" SQS_ENDPOINT="http://127.0.0.1:$sqs_port" \
    "$bin"/local-gateway serve > "$state/$1.log" 2>&1 &
  gateway_pid=$!
  echo "$gateway_pid" > "$state/gateway.pid"
  trap 'kill "$gateway_pid" 2>/dev/null || true; stop' EXIT
  wait_for_http "http://127.0.0.1:$gateway_port/_local/health" "$state/gateway.pid" \
    "$state/$1.log" "the local gateway" 60 2xx
}
stop_gateway() {
  kill "$gateway_pid"
  wait "$gateway_pid" 2>/dev/null || true
  trap stop EXIT
}

# start_dynamodb: a DynamoDB Local in memory on a free port ($ddb_port); fresh_dynamodb: that
# one stopped and another started, for steps that must not queue behind what came before.
start_dynamodb() {
  ddb_port="$(free_port)"
  infra/scripts/dynamodb-local.sh start --port "$ddb_port" --in-memory \
    --pid-file "$state/dynamodb.pid" --log "$state/dynamodb.log"
}
fresh_dynamodb() {
  infra/scripts/dynamodb-local.sh stop --pid-file "$state/dynamodb.pid"
  start_dynamodb
}
# audit_tables: every `test-…` table of the current DynamoDB Local. The delays are an hour:
# what the audit is to find here is state the API must never write, at any delay.
audit_tables() {
  DYNAMODB_ENDPOINT="http://127.0.0.1:$ddb_port" "$bin"/audit --all-tables --prefix test- \
    --fanout-delay-secs 3600 --redrive-window-secs 3600
}

step "DynamoDB Local (in memory)"
start_dynamodb
sqs_port="$(free_port)"
step "SQS emulator on port $sqs_port"
infra/scripts/sqs-local.sh start --port "$sqs_port" --pid-file "$state/sqs.pid" --log "$state/sqs.log"

step "cargo test"
RUST_LOG="${RUST_LOG:-warn}" DYNAMODB_ENDPOINT="http://127.0.0.1:$ddb_port" SQS_ENDPOINT="http://127.0.0.1:$sqs_port" \
  cargo test --workspace --no-fail-fast

# Every table the suite wrote (`test-<ulid>`, one per test app) must hold the invariants.
# Tests that write states the API cannot make delete their tables. The delays are an hour:
# tests leave events undispatched and closed jobs not yet fanned out on purpose (notify is
# driven by hand), and the suite takes minutes; what the audit is to find here is state the
# API must never write, at any delay.
step "audit of every table the tests wrote"
audit_tables

# The gateway steps get a fresh engine: after the suite, DynamoDB Local holds hundreds of
# tables with streams and answers slower, and the fuzzer's requests must meet the same
# 800 ms attempt timeout as every other.
step "a fresh DynamoDB Local for the gateway steps"
fresh_dynamodb

# Schemathesis against a local gateway of its own on the fresh DynamoDB Local, as alice, who
# owns the demo jobs (bob applied to one), so the document's links (a list, a job, its
# applications, a hire) have data to follow; with one caller the fuzzer seldom gets as far
# as a contract, which the black-box tests, checked against the same document, cover. Every
# response must be one the document describes, and valid data must be accepted
# (infra/schemathesis.toml). Fixed seed,
# no example database: the same run every time. Its table is `test-…`, so the audit below
# checks what the fuzzer wrote too. One check is left out, `unsupported_method`: it wants
# 405 for a method the document does not list, where API Gateway's HTTP API (and the local
# gateway with it) answers any request that matches no route with its own 404 (README, "The
# edge"); a 405 would take catch-all routes in template.yaml.
step "schemathesis against the published contract (infra/openapi.yaml)"
start_gateway test-schemathesis
SCHEMATHESIS_HOOKS=infra/schemathesis_hooks.py .venv/bin/st --config-file infra/schemathesis.toml \
  run "http://127.0.0.1:$gateway_port/openapi.json" --url "http://127.0.0.1:$gateway_port" \
  --header "Authorization: Bearer $("$bin"/local-gateway token alice)" \
  --checks all --exclude-checks unsupported_method --seed 20261125 --max-examples 50 \
  --generation-database none --workers 2 --no-color
stop_gateway

# The README's walk-through, as written, against a local gateway of its own (its table is
# `test-…` too, so the audit below checks what it wrote).
step "README.md's walk-through against a local gateway"
start_gateway test-walkthrough
API="http://127.0.0.1:$gateway_port" infra/scripts/walkthrough.sh
stop_gateway

# What the fuzzer and the walk-through wrote.
step "audit of every table the fuzzer and the walk-through wrote"
audit_tables

# The console gets a fresh engine too: behind the fuzzer's thousands of stream records,
# DynamoDB Local answered the console's first requests after the 800 ms timeout.
step "a fresh DynamoDB Local for the console"
fresh_dynamodb

# The console in a real browser (Debian's chromium through playwright-core): bob's page shows
# a hire live, and after a dropped socket reconnects and shows the one it missed once.
step "the console in headless chromium"
infra/scripts/chromium.sh
start_gateway test-console
API="http://127.0.0.1:$gateway_port" node infra/scripts/console-test.mjs
stop_gateway

step "audit of the console's table"
audit_tables

# Last, so that its paused and restarted engines disturb no other step: a short chaos run
# on a stack of its own (README.md, "make chaos"), a fixed seed, about two minutes.
# The stack above is stopped first: the run wants the machine's two cores to itself.
stop
trap - EXIT
step "make chaos, short: 45 s of load and faults, then the proof"
"$bin"/chaos --seconds 45 --clients 8 --seed 20261206
