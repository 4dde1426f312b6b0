"""Nothing of one candidate reaches the next (issue 18, finding 2): files it left, space it
filled, its source, arguments and replies in the memory the next one is forked with. Each pair
runs in one worker's warm sandbox, on every isolation level this machine has."""

from __future__ import annotations

import uuid

import pytest

from sandbox.session import CandidateError, Limits, SandboxSession

from .test_hostile import FAST, healthy, outcome

MARK = "LEFT" + "OVER-7f3a"

LEAVE = f'''
import os
def f():
    written = []
    for path in ["/tmp/x", "/tmp/../y", "../z", "/dev/shm/x", "/var/tmp/x", "mine"]:
        try:
            with open(path, "w") as fh:
                fh.write({MARK!r})
            written.append(path)
        except OSError:
            pass
    return written
'''

LOOK = '''
import os
def f():
    found = []
    for top in ["/tmp", "/dev/shm", "/var/tmp", "..", "."]:
        try:
            names = os.listdir(top)
        except OSError:
            names = []
        for name in names + ["x", "y", "z", "mine"]:
            path = os.path.join(top, name)
            try:
                if os.path.isfile(path) and "LEFT" + "OVER-7f3a" in open(path).read():
                    found.append(path)
            except OSError:
                pass
    return found
'''

FILL = '''
import os
def f():
    n = 0
    for top in ["/tmp", "..", "/dev/shm", "."]:
        for i in range(60):
            try:
                with open(os.path.join(top, f"fill{i}"), "wb") as fh:
                    fh.write(b"0" * (3 << 20))
                n += 1
            except OSError:
                break
    return n
'''


def test_files_a_candidate_leaves_are_gone_for_the_next(level):
    kind, written = outcome(LEAVE)
    assert kind == "ok" and not {"/tmp/x", "/tmp/../y", "../z"} & set(written)
    assert outcome(LOOK) == ("ok", [])


def test_a_candidate_filling_its_space_does_not_starve_the_next(level):
    for _ in range(2):
        kind, _ = outcome(FILL)
        assert kind in ("ok", "exception")
        healthy()


SCAN = '''
import ctypes
def f(reversed_token):
    """Count copies of the token in this process's heap and anonymous memory (what it inherited
    from the process it was forked from), its own search key excepted; -1 if it cannot look."""
    libc = ctypes.CDLL(None)
    libc.memmem.restype = ctypes.c_void_p
    libc.memmem.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t)
    needle = bytes(reversed(reversed_token.encode()))
    own = id(needle) + 32  # the bytes object's own buffer
    try:
        maps = open("/proc/self/maps").read().splitlines()
    except OSError:
        return -1
    hits = 0
    for line in maps:
        parts = line.split()
        if "r" not in parts[1] or (len(parts) > 5 and parts[5] != "[heap]"):
            continue
        start, end = (int(x, 16) for x in parts[0].split("-"))
        at = start
        while at < end:
            found = libc.memmem(at, end - at, needle, len(needle))
            if not found:
                break
            hits += found != own
            at = found + 1
    return hits
'''


def test_a_candidate_inherits_nothing_of_earlier_candidates_in_memory(level):
    """Candidates are forked from a zygote that never held a candidate's code, arguments or
    replies: the next candidate finds no copy of an earlier one's source in its memory."""
    token = uuid.uuid4().hex
    assert outcome(f'MARK = "{token}"\ndef f(x):\n    return [MARK, x]\n', FAST, token) == \
        ("ok", [token, token])  # the token also went through the template as an argument and reply
    kind, hits = outcome(SCAN, FAST, token[::-1])
    assert kind == "ok" and hits in ((0, -1) if level == "landlock" else (0,))


def test_a_restart_is_a_fresh_process_within_the_same_wall_limit(level):
    """``SandboxSession.restart`` (llm_serving: one process per workload) keeps no module state
    and does not reset the session's wall clock."""
    code = ("import time\nSEEN = []\ndef f(x, nap=0.0):\n    time.sleep(nap)\n    SEEN.append(x)\n"
            "    return list(SEEN)\n")
    with SandboxSession(code, Limits(wall_seconds=2.0, call_seconds=2.0)) as box:
        assert box.call("f", 1) == [1] and box.call("f", 2) == [1, 2]
        box.restart()
        assert not box.used and box.call("f", 3, 1.2) == [3]
        box.restart()
        with pytest.raises(CandidateError) as err:
            box.call("f", 4, 1.2)  # 2.4 s of naps against a 2 s session
    assert err.value.kind == "timeout" and "session wall" in err.value.message
