#!/usr/bin/env bash
# Runs README.md's walk-through (the first ```sh block under "## Walk-through"), as written,
# against the local gateway at $API, and checks what it printed: the README cannot drift
# from the API without this failing.
#   API=http://127.0.0.1:3000 infra/scripts/walkthrough.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
: "${API:?API must name the local gateway, e.g. http://127.0.0.1:3000}"

block="$(awk '
  /^## Walk-through/ { section = 1; next }
  section && /^## / { exit }
  section && !inside && /^```sh$/ { inside = 1; next }
  inside && /^```$/ { exit }
  inside { print }
' README.md)"
[ -n "$block" ] || { echo "walk-through: no sh block under '## Walk-through' in README.md" >&2; exit 1; }

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
# `sh -eu`: any step that fails (curl -f on an error status, an unset variable) stops it.
if ! API="$API" sh -eu -c "$block" > "$out" 2>&1; then
  echo "walk-through: the README's block failed; its output:" >&2
  cat "$out" >&2
  exit 1
fi

# What each step must have shown, in the README's own words.
expect() {
  grep -q -- "$1" "$out" || { echo "walk-through: expected $2 ($1); output:" >&2; cat "$out" >&2; exit 1; }
}
expect '"code": "JOB_NOT_OPEN"' "hiring again to be refused"
expect '"current_status": "filled"' "the job to be filled"
expect '"status": "funded"' "the contract to be funded"
expect '"status": "released"' "the contract to be released"
expect '"bid_cents": 45000' "the owner to see Bob's application"
echo "walk-through: README.md's block ran against $API and showed every step"
