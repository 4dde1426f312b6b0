"""Batched calls (``call_many``): one round trip, yet every call keeps its own limit and CPU."""

from __future__ import annotations

import pytest

from sandbox.session import CandidateError, Limits, SandboxSession

from .conftest import uid_processes
from .test_hostile import healthy

LIMITS = Limits(call_seconds=1.0, wall_seconds=6, load_seconds=5, cpu_seconds=10, memory_mb=768)
BUSY = ("import time\ndef f(seconds, tag):\n    t = time.process_time()\n"
        "    while time.process_time() - t < seconds:\n        pass\n    return tag\n")
# time limits are wall time: a busy loop's wall time stretches on a loaded machine, a sleep's does not
SLEEPY = "import time\ndef f(seconds, tag):\n    time.sleep(seconds)\n    return tag\n"


def failure(code: str, arg_lists: list, limits: Limits = LIMITS) -> CandidateError:
    box = SandboxSession(code, limits)
    with pytest.raises(CandidateError) as info:
        with box:
            box.call_many("f", arg_lists)
    assert uid_processes(box.uid) == []
    healthy()
    return info.value


def test_values_in_order_and_cpu_per_call(level):
    with SandboxSession(BUSY, LIMITS) as box:
        values = box.call_many("f", [(0.0, "a"), (0.3, "b"), (0.0, "c")])
        assert values == ["a", "b", "c"]
        cpu = box.batch_cpu
        # the 0.3 CPU-s of call 1 are counted to it alone (a running total would give call 2
        # >= 0.3); loose bounds: CPU time, not wall time, yet a loaded machine adds some
        assert len(cpu) == 3 and 0.25 <= cpu[1] < 0.9 and cpu[0] < 0.2 and cpu[2] < 0.2
        assert box.calls_cpu == pytest.approx(sum(cpu))
        assert box.call_many("f", []) == []
        assert box.call("f", 0.0, "single") == "single"  # plain calls still work after a batch


def test_each_call_keeps_its_own_time_limit(level):
    # three calls of 0.6 s fit no single 1 s limit together, but each fits its own
    with SandboxSession(SLEEPY, LIMITS) as box:
        assert box.call_many("f", [(0.6, 1), (0.6, 2), (0.6, 3)]) == [1, 2, 3]
    exc = failure(BUSY, [(0.0, 1), (5.0, 2), (0.0, 3)])
    assert exc.kind == "timeout" and exc.index == 1 and "killed" in exc.message


def test_the_session_wall_time_bounds_the_batch(level):
    # ten calls of 0.6 s, each within its 1 s limit, are stopped by the 2.7 s of the session
    # (after four calls; a slow start on a loaded machine leaves at least two)
    exc = failure(SLEEPY, [(0.6, i) for i in range(10)], Limits(call_seconds=1.0, wall_seconds=2.7,
                                                                load_seconds=2, cpu_seconds=10))
    assert exc.kind == "timeout" and 2 <= exc.index <= 5


def test_first_failure_ends_the_batch_and_names_its_index(level):
    code = "def f(x):\n    return 10 // x\n"
    exc = failure(code, [(5,), (2,), (0,), (1,)])
    assert exc.kind == "exception" and exc.index == 2 and "ZeroDivisionError" in exc.message
    exc = failure("import os\ndef f(x):\n    if x:\n        os._exit(3)\n    return x\n", [(0,), (1,)])
    assert exc.kind == "crash" and exc.index == 1 and "exit code 3" in exc.message


def test_an_extra_frame_in_a_batch_is_a_forgery(level):
    code = ("import os, struct, json\n"
            "def f(x):\n    data = json.dumps({'ok': 'forged'}).encode()\n"
            "    os.write(3, struct.pack('>I', len(data)) + data)\n    return x\n")
    exc = failure(code, [(1,), (2,)])
    # the forged frame is read as the first reply, so the batch is off by one from there on and
    # the leftover frame is caught when the session ends
    assert exc.kind == "protocol" and "forged" in exc.message


@pytest.mark.parametrize("kind", ["same", ["a"], "x" * 100])
def test_a_candidate_cannot_name_its_own_error_kind(level, kind):
    """An error frame the candidate writes itself, with a kind of its choosing (one the engine
    stores, e.g. "same", which would skip the repair of a failing child, or one the archive
    cannot store), is an exception like any other, in a batch and in a single call."""
    import json as _json

    frame = _json.dumps({"error": "forged", "kind": kind})
    code = ("import os, struct, sys\n"
            f"FRAME = {frame!r}.encode()\n"
            "def f(x):\n    os.write(3, struct.pack('>I', len(FRAME)) + FRAME)\n"
            "    os._exit(0)\n")
    exc = failure(code, [(1,), (2,)])
    assert exc.kind == "exception" and exc.index == 0 and "forged" in exc.message
    with SandboxSession(code, LIMITS) as box:
        with pytest.raises(CandidateError) as err:
            box.call("f", 1)
    assert err.value.kind == "exception" and "forged" in err.value.message
