#!/usr/bin/env bash
# Debian's chromium, for the console's browser test in `make test`: installed with apt-get
# when it is missing (as root, or through sudo). Without it the test fails, never skips.
set -euo pipefail
command -v chromium >/dev/null && exit 0
echo "chromium: installing Debian's chromium (apt-get)"
as_root=()
[ "$(id -u)" = 0 ] || as_root=(sudo)
if [ ${#as_root[@]} -gt 0 ] && ! command -v sudo >/dev/null; then
  echo "chromium: not installed, and installing it needs root: apt-get install chromium" >&2
  exit 1
fi
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium
