#!/usr/bin/env bash
# Rebuild llama-cpp-python (the pinned version) with flags for this CPU (scripts/llama-flags.sh),
# replacing a build, or a pip-cached wheel, made for instructions this CPU cannot run: llama.cpp
# built with -march=native on a machine with AMX dies with SIGILL on its first token where a VM
# does not grant AMX, and a wheel cached on an AVX-512 machine does on one without it. About 12
# minutes on 2 cores; pip caches the result.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(grep -o 'llama-cpp-python\[server\]==[0-9.]*' pyproject.toml | head -1 | cut -d= -f3)
.venv/bin/python -m pip cache remove llama_cpp_python >/dev/null 2>&1 || true
flags=$(bash scripts/llama-flags.sh)
echo "setup: building llama-cpp-python $version ($flags; about 12 minutes on 2 cores)" >&2
CMAKE_ARGS="$flags" .venv/bin/python -m pip install -q --force-reinstall \
  --no-deps "llama-cpp-python==$version"
