#!/usr/bin/env bash
# Rebuild llama-cpp-python (the pinned version) for any CPU of its architecture (GGML_NATIVE=OFF:
# AVX2/FMA/F16C on x86-64), replacing a build, or a pip-cached wheel, made for instructions this
# CPU cannot run: llama.cpp built with -march=native on a machine with AMX dies with SIGILL on its
# first token where a VM does not grant AMX. About 12 minutes on 2 cores; pip caches the result.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(grep -o 'llama-cpp-python\[server\]==[0-9.]*' pyproject.toml | head -1 | cut -d= -f3)
.venv/bin/python -m pip cache remove llama_cpp_python >/dev/null 2>&1 || true
echo "setup: building llama-cpp-python $version for any CPU (about 12 minutes on 2 cores)" >&2
CMAKE_ARGS="-DGGML_NATIVE=OFF ${CMAKE_ARGS:-}" .venv/bin/python -m pip install -q --force-reinstall \
  --no-deps "llama-cpp-python==$version"
