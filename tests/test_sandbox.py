"""The candidate runs in a child: deadlines kill it, the environment is scrubbed, replies are strict."""

from __future__ import annotations

import os
import time

import pytest

from sandbox.session import CandidateError, Limits, SandboxSession


def test_call_roundtrip_and_print_isolation():
    code = "def f(x):\n    print('noise')\n    return [x, x * 2]\n"
    with SandboxSession(code) as box:
        assert box.call("f", 3) == [3, 6]
        assert box.call("f", 4) == [4, 8]
        assert "noise" in box.stderr_tail()


def test_runaway_call_is_killed_at_the_deadline():
    code = "def f():\n    while True:\n        pass\n"
    started = time.monotonic()
    with SandboxSession(code, Limits(call_seconds=1.0)) as box:
        pid = box._proc.pid
        with pytest.raises(CandidateError) as err:
            box.call("f")
        assert err.value.kind == "timeout"
        assert box._proc.poll() is not None  # really gone, not just abandoned
    assert time.monotonic() - started < 5
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_wall_limit_covers_the_whole_session():
    code = "import time\ndef f():\n    time.sleep(0.4)\n    return 1\n"
    with SandboxSession(code, Limits(call_seconds=5, wall_seconds=1.0)) as box:
        with pytest.raises(CandidateError, match="session wall"):
            for _ in range(10):
                box.call("f")


def test_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    code = "import os\ndef f():\n    return sorted(os.environ)\n"
    with SandboxSession(code) as box:
        names = box.call("f")
    assert "OPENAI_API_KEY" not in names and set(names) <= {"PATH", "LANG", "PYTHONHASHSEED", "HOME",
                                                            "TMPDIR", "LC_CTYPE"}


def test_load_failure_is_reported():
    with pytest.raises(CandidateError) as err:
        with SandboxSession("def f(:\n"):
            pass
    assert err.value.kind == "load" and "SyntaxError" in err.value.message


def test_missing_function_and_exceptions():
    with SandboxSession("def f():\n    return 1 / 0\n") as box:
        with pytest.raises(CandidateError, match="ZeroDivisionError"):
            box.call("f")
        with pytest.raises(CandidateError, match="no function 'g'"):
            box.call("g")


def test_oversize_reply_is_cut_off():
    code = "def f():\n    return 'x' * 5_000_000\n"
    with SandboxSession(code, Limits(max_reply_bytes=1_000_000)) as box:
        with pytest.raises(CandidateError) as err:
            box.call("f")
    assert err.value.kind == "oversize"


def test_memory_limit_applies():
    code = "def f():\n    b = bytearray(900 * 1024 * 1024)\n    return len(b)\n"
    with SandboxSession(code, Limits(memory_mb=400)) as box:
        with pytest.raises(CandidateError, match="MemoryError"):
            box.call("f")
