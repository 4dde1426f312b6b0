"""Does the installed llama.cpp compute on this CPU?  ``python -m evolve.llm.embedded.llama_check``

A llama.cpp built with ``-march=native`` (llama-cpp-python's default source build, which pip then
caches) can use instructions that another CPU, or a VM that hides them, cannot run: built on a
machine with AMX it loads a model fine and dies with SIGILL on its first token where the VM does
not grant AMX. This loads the embedded model and evaluates a few tokens in a child process. Exit
code 0 when that works or nothing is installed to check, 1 with a one-line reason otherwise;
``scripts/setup.sh`` then rebuilds llama.cpp with flags for this CPU (``scripts/rebuild-llama.sh``).
"""

from __future__ import annotations

import signal
import subprocess
import sys

from evolve.llm.embedded.local_model import DEFAULT_MODEL, available, llama_installed, model_file

REBUILD = "bash scripts/rebuild-llama.sh"
PROBE = ("import sys, llama_cpp\n"
         "llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=64, n_threads=2, verbose=False)\n"
         "llm.eval(llm.tokenize(b'def add(a, b):'))\n")


def problem(name: str = DEFAULT_MODEL, timeout: float = 300.0) -> str | None:
    """Why llama.cpp cannot compute here, or None if it can (or is not installed)."""
    if not (llama_installed() and available(name)):
        return None
    try:
        res = subprocess.run([sys.executable, "-c", PROBE, str(model_file(name))], capture_output=True,
                             text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"llama.cpp did not evaluate a few tokens of {name} within {timeout:.0f}s"
    if res.returncode == -signal.SIGILL:
        return (f"llama.cpp was built for instructions this CPU cannot run (SIGILL on its first "
                f"token); rebuild it for this CPU: {REBUILD}")
    if res.returncode != 0:
        tail = (res.stderr.strip().splitlines() or ["no output"])[-1]
        return f"llama.cpp failed to evaluate {name} (exit code {res.returncode}: {tail})"
    return None


def main() -> int:
    why = problem()
    if why:
        print(f"error: {why}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
