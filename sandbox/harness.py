"""Runs inside the sandboxed child: loads candidate code and answers calls over a pipe.

This file is executed as a script by the child interpreter (``python -I harness.py``). It uses
the standard library only and imports nothing from the engine or the evaluators. Protocol: one
JSON object per line. The parent sends ``{"call": name, "args": [...]}``; the child answers
``{"ok": value}`` or ``{"error": "..."}``. The first line the child writes is ``{"ready": true}``
once the candidate module has loaded (or ``{"error": ...}`` if it did not). Candidate output on
stdout goes to stderr, so it cannot forge protocol lines.
"""

from __future__ import annotations

import json
import os
import sys
import traceback


def _fail_constant(name: str) -> None:
    raise ValueError(f"non-finite number {name} is not allowed")


def main() -> int:
    proto_out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # candidate prints land on stderr
    sys.stdout = sys.stderr
    proto_in = sys.stdin
    code_path = sys.argv[1]
    namespace: dict = {"__name__": "candidate", "__file__": code_path}

    def send(obj: dict) -> None:
        try:
            line = json.dumps(obj, allow_nan=False)
        except (TypeError, ValueError) as exc:
            line = json.dumps({"error": f"reply is not plain JSON: {exc}"})
        proto_out.write(line + "\n")
        proto_out.flush()

    try:
        with open(code_path, encoding="utf-8") as fh:
            source = fh.read()
        exec(compile(source, code_path, "exec"), namespace)
    except BaseException:
        send({"error": "candidate failed to load:\n" + _short_tb()})
        return 0
    send({"ready": True})

    for raw in proto_in:
        try:
            request = json.loads(raw, parse_constant=_fail_constant)
            fn = namespace.get(request["call"])
            if not callable(fn):
                send({"error": f"candidate defines no function {request['call']!r}"})
                continue
            result = fn(*request.get("args", []))
        except BaseException:
            send({"error": _short_tb()})
            continue
        send({"ok": result})
    return 0


def _short_tb(limit: int = 4000) -> str:
    text = traceback.format_exc()
    return text[-limit:]


if __name__ == "__main__":
    sys.exit(main())
