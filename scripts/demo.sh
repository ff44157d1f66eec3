#!/usr/bin/env bash
# The README's demo command: set up what is missing, then run `ganforge demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec node bin/ganforge.js demo "$@"
