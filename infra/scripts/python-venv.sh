#!/usr/bin/env bash
# Creates .venv at the repository root with infra/requirements.txt, again only when the
# requirements change.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/.venv"
wanted="$(sha256sum "$root/infra/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" = "$wanted" ]; then
  exit 0
fi
echo "deps: installing infra/requirements.txt into .venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/infra/requirements.txt"
echo "$wanted" > "$venv/.requirements.sha256"
