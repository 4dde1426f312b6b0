#!/usr/bin/env bash
# Set up (once) and evolve a problem: scripts/run.sh [PROBLEM] [evolve run options...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
problem=${1:-smtt}
shift || true
exec .venv/bin/evolve run "$problem" "$@"
