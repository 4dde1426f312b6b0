"""The hostile catalogue: each candidate is contained, leaks nothing, and the worker goes on."""

from __future__ import annotations

import os
import socket
import time

import pytest

from sandbox import session as sbx
from sandbox.session import CandidateError, Limits, SandboxSession

from .conftest import uid_processes

FAST = Limits(call_seconds=1.5, wall_seconds=6, load_seconds=5, cpu_seconds=10, memory_mb=768,
              processes=32, open_files=64, file_size_mb=4)


def outcome(code: str, limits: Limits = FAST, *args):
    """Run f(*args) in a fresh session: ('ok', value) or (kind, message); check nothing survives."""
    started = time.monotonic()
    box = SandboxSession(code, limits)
    try:
        with box:
            result = ("ok", box.call("f", *args))
    except CandidateError as exc:
        result = (exc.kind, exc.message)
    assert time.monotonic() - started < limits.wall_seconds + 6
    if box.uid is not None:
        assert uid_processes(box.uid) == [], "a candidate process outlived its session"
    return result


def healthy() -> None:
    """The worker's sandbox still serves a well-behaved candidate."""
    assert outcome("def f(x):\n    return x + 1\n", FAST, 41) == ("ok", 42)


def run(code: str, limits: Limits = FAST):
    result = outcome(code, limits)
    healthy()
    return result


def test_infinite_loop(level):
    kind, msg = run("def f():\n    while True:\n        pass\n")
    assert kind == "timeout" and "killed" in msg


def test_loop_ignoring_sigterm_and_sigxcpu(level):
    code = ("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "signal.signal(signal.SIGXCPU, signal.SIG_IGN)\n"
            "def f():\n    while True:\n        pass\n")
    assert run(code)[0] == "timeout"
    # with the CPU limit below the call limit, the hard rlimit (soft + 1) kills it
    kind, msg = run(code, Limits(call_seconds=5, wall_seconds=8, cpu_seconds=1))
    assert kind == "crash" and "SIGKILL" in msg


def test_sleep_forever(level):
    assert run("import time\ndef f():\n    time.sleep(10**6)\n")[0] == "timeout"


def test_deep_recursion(level):
    code = "import sys\nsys.setrecursionlimit(10**7)\ndef f(n=0):\n    return f(n + 1)\n"
    kind, _msg = run(code)
    assert kind in ("crash", "exception", "timeout")  # C-stack segfault, MemoryError or the deadline


def test_3gb_allocation(level):
    kind, msg = run("def f():\n    return len(bytearray(3 * 1024**3))\n")
    assert kind == "exception" and "MemoryError" in msg


def test_200_forks(level):
    code = ("import os, time\ndef f():\n    n = 0\n    for _ in range(200):\n        try:\n"
            "            if os.fork() == 0:\n                time.sleep(600)\n                os._exit(0)\n"
            "            n += 1\n        except OSError:\n            break\n    return n\n")
    kind, value = run(code)
    assert kind == "ok" and value < FAST.processes  # RLIMIT_NPROC binds: the uid is not root


def test_setsid_escapee_is_killed(level):
    code = ("import os, time\ndef f():\n    if os.fork() == 0:\n        os.setsid()\n"
            "        if os.fork() == 0:\n            time.sleep(600)\n        os._exit(0)\n"
            "    time.sleep(600)\n")
    assert run(code)[0] == "timeout"  # outcome() checks no process of the uid is left


def test_stdout_flood(level):
    kind, msg = run("def f():\n    while True:\n        print('x' * 10000)\n")
    assert kind == "exception" and ("File too large" in msg or "No space" in msg)


def test_filling_the_temp_dir(level):
    code = ("def f():\n    i = 0\n    while True:\n        with open(f'junk{i}', 'wb') as fh:\n"
            "            fh.write(b'0' * (3 << 20))\n        i += 1\n")
    kind, msg = run(code)
    assert kind == "exception" and ("No space" in msg or "File too large" in msg or "Disk quota" in msg
                                    or "Permission" in msg)


def test_writing_outside_its_folder(level, tmp_path):
    target = tmp_path / "pwned.txt"
    code = ("def f():\n    out = []\n"
            f"    for path in ['/etc/pwned', '/usr/pwned', {str(target)!r}, '/tmp/../pwned', '../pwned']:\n"
            "        try:\n            open(path, 'w').write('x')\n            out.append(path)\n"
            "        except OSError:\n            pass\n    return out\n")
    kind, written = run(code)
    assert kind == "ok"
    assert not target.exists() and not os.path.exists("/etc/pwned") and not os.path.exists("/usr/pwned")
    assert all(p in ("/tmp/../pwned", "../pwned") for p in written) or written == []


SECRETS = """
import os, glob
def f():
    found = {}
    found["env"] = {k: v for k, v in os.environ.items() if "KEY" in k or "SECRET" in k or "URL" in k}
    for name, path in [("ppid_environ", f"/proc/{os.getppid()}/environ"),
                       ("ssh", "/root/.ssh/id_rsa"), ("answers", ANSWERS), ("pid1", "/proc/1/environ")]:
        try:
            found[name] = open(path, "rb").read(200).decode("latin-1")
        except OSError as exc:
            found[name] = None
    try:
        found["root_listing"] = os.listdir("/root")
    except OSError:
        found["root_listing"] = None
    return found
"""


def test_secrets_are_out_of_reach(level, monkeypatch):
    from evaluators.jobs import verifier_for

    answers = verifier_for("smtt").spec.root / "data" / "wtopt40.txt"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-abc")
    monkeypatch.setenv("DATABASE_URL", "postgresql://user:pw@127.0.0.1/db")
    sbx.reset()  # a template started now sees the secrets in its parent's environment
    os.environ["EVOLVE_SANDBOX"] = level
    kind, found = run(SECRETS.replace("ANSWERS", repr(str(answers))))
    assert kind == "ok"
    assert found["env"] == {}
    assert found["ppid_environ"] is None and found["pid1"] is None
    assert found["ssh"] is None and found["answers"] is None
    assert ".ssh" not in (found["root_listing"] or [])  # at most the bound interpreter shows
    assert "sk-secret" not in str(found)


def test_no_network(level):
    code = ("import socket\ndef f():\n    out = {}\n"
            "    for port in (6379, 5432):\n        try:\n"
            "            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n            s.settimeout(1)\n"
            "            s.connect(('127.0.0.1', port))\n            s.sendall(b'PING\\r\\n')\n"
            "            out[port] = s.recv(10).decode()\n        except OSError as exc:\n"
            "            out[port] = type(exc).__name__\n    return out\n")
    kind, out = run(code)
    assert kind == "ok" and "+PONG" not in str(out) and all(v.endswith("Error") for v in out.values())


def test_no_udp(level):
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    code = ("import socket\ndef f():\n    try:\n"
            "        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"        s.sendto(b'leak', ('127.0.0.1', {port}))\n        return 'sent'\n"
            "    except OSError as exc:\n        return type(exc).__name__\n")
    kind, _value = run(code)
    with pytest.raises(socket.timeout):
        listener.recvfrom(100)
    listener.close()
    assert kind == "ok"


def test_killing_the_parent_and_everyone(level):
    before = sbx.template()._proc.pid
    kind, value = run("import os\ndef f():\n    try:\n        os.kill(os.getppid(), 9)\n"
                      "    except OSError as exc:\n        return type(exc).__name__\n    return 'killed'\n")
    assert (kind, value) == ("ok", "PermissionError")
    kind, msg = run("import os\ndef f():\n    os.kill(-1, 9)\n    return 'alive'\n")
    assert (kind, msg) == ("ok", "alive")  # kill(-1) reaches no process but its own (none)
    assert sbx.template()._proc.pid == before  # the template was never restarted
    assert os.getpid() > 0  # and this worker process is fine


FORGE = (
    "import os, struct, json\n"
    "def frame(obj):\n    data = json.dumps(obj).encode()\n    return struct.pack('>I', len(data)) + data\n"
    "def f():\n    fake = frame({'ok': 'forged', 'cpu': 0})\n    print(fake)\n"
    "    for fd in range(0, 64):\n        try:\n            os.write(fd, fake)\n        except OSError:\n"
    "            pass\n    return 'honest'\n")


def test_forged_frames_do_not_count(level):
    kind, msg = run(FORGE)
    # a second frame on its own channel is caught as a forgery; other fds lead nowhere
    assert kind == "protocol" and "forged" in msg
    quiet = FORGE.replace("range(0, 64)", "[0, 1, 2]")
    assert run(quiet) == ("ok", "honest")


@pytest.mark.parametrize("expr, needle", [
    ("float('nan')", "f() returned nan or inf; return finite numbers"),
    ("[1.0, float('inf')]", "f() returned nan or inf; return finite numbers"),
    ("{1, 2}", "f() returned a value that is not plain data (TypeError: Object of type set is not"),
    ("object()", "not JSON serializable"),
    ("(lambda x: x.append(x) or x)([])", "f() returned a structure that contains itself")])
def test_non_json_replies(level, expr, needle):
    kind, msg = run(f"def f():\n    return {expr}\n")
    assert kind == "exception" and needle in msg


def test_exits(level):
    kind, msg = run("import os\ndef f():\n    os._exit(0)\n")
    assert kind == "crash" and "exit code 0" in msg
    kind, msg = run("import sys\ndef f():\n    sys.exit(3)\n")
    assert kind == "exception" and "sys.exit(3)" in msg


def test_thread_left_running(level):
    code = ("import threading\ndef spin():\n    while True:\n        pass\n"
            "def f():\n    threading.Thread(target=spin, daemon=False).start()\n    return 'back'\n")
    assert run(code) == ("ok", "back")


def test_ctypes_segfault(level):
    kind, msg = run("import ctypes\ndef f():\n    return ctypes.string_at(0)\n")
    assert kind == "crash" and "SIGSEGV" in msg


def test_10000_open_files(level):
    kind, msg = run("def f():\n    return [open('/dev/null') for _ in range(10000)]\n")
    assert kind == "exception" and "Too many open files" in msg


def test_load_failures_are_reported(level):
    kind, msg = run("def f(:\n")
    assert kind == "load" and "SyntaxError" in msg
    kind, msg = run("import does_not_exist\n")
    assert kind == "load" and "ModuleNotFoundError" in msg
    assert run("x = 1\n")[0] == "exception"  # no f(): named in the message


def test_oversize_reply(level):
    kind, _msg = run("def f():\n    return 'x' * 3_000_000\n", Limits(call_seconds=2, wall_seconds=5,
                                                                      max_reply_bytes=1_000_000))
    assert kind == "oversize"


def test_cpu_time_is_measured_outside(level):
    code = ("import time\ndef f():\n    t = time.process_time()\n"
            "    while time.process_time() - t < 0.3:\n        pass\n    return 1\n")
    with SandboxSession(code, FAST) as box:
        value, cpu = box.timed_call("f", repeats=3)
    # the median of three 0.3 CPU-s calls, not their sum (>= 0.9); loose for a loaded machine
    assert value == 1 and 0.25 <= cpu < 0.85
    # patching the clocks inside the candidate does not change what the template measures
    patched = ("import time\ntime.process_time = lambda: 0.0\ntime.perf_counter = lambda: 0.0\n"
               "def f():\n    return sum(range(20_000_000)) and 1\n")
    with SandboxSession(patched, FAST) as box:
        assert box.call("f") == 1
        assert box.last_cpu > 0.1


def test_worker_environment_untouched(level):
    assert "EVOLVE_SANDBOX" in os.environ
    healthy()
