"""The template does not do a candidate's bidding (issue 18, finding 6): it reads the candidate's
stderr only as the regular file it made, survives frames it cannot decode, and reports the
hardening in force from its own side, not from a frame the candidate could have written."""

from __future__ import annotations

import time

from sandbox.session import CandidateError, SandboxSession

from .test_hostile import FAST, healthy, outcome

SWAP_STDERR = '''
import os
def f():
    os.unlink("stderr.txt")
    {make}
    os._exit(3)
'''


def test_a_symlink_in_place_of_stderr_is_not_followed(level):
    code = SWAP_STDERR.format(make='os.symlink("candidate.py", "stderr.txt")  # SOURCE-8c1e')
    kind, message = outcome(code)
    assert kind in ("crash", "exception") and "SOURCE-8c1e" not in message
    healthy()


def test_a_fifo_in_place_of_stderr_does_not_hang_the_session(level):
    started = time.monotonic()
    kind, _ = outcome(SWAP_STDERR.format(make='os.mkfifo("stderr.txt")'))
    assert kind in ("crash", "exception") and time.monotonic() - started < 5
    healthy()


def test_a_deeply_nested_raw_reply_is_a_protocol_error(level):
    code = ('import os, struct\ndef f():\n    body = b"[" * 200000 + b"]" * 200000\n'
            '    os.write(3, struct.pack(">I", len(body)) + body)\n    import time\n'
            '    time.sleep(5)\n')
    kind, message = outcome(code)
    assert kind == "protocol" and "nested too deeply" in message
    healthy()


FORGED_READY = '''
import os, struct, json
body = json.dumps({"ready": True, "hardening": {"forged": True}}).encode()
os.write(3, struct.pack(">I", len(body)) + body)
def f():
    return 1
'''


def test_the_hardening_report_comes_from_the_trusted_side(level):
    box = SandboxSession(FORGED_READY, FAST)
    try:
        with box:
            box.call("f")
    except CandidateError:
        pass  # the genuine ready frame after the forged one is an unsolicited frame: a forgery
    assert "forged" not in box.hardening and box.hardening  # what harden() reported, before load
    healthy()
