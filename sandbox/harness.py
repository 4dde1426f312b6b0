"""The sandbox's template process and the candidate child it forks (runs inside the sandbox).

Started once per worker (inside bubblewrap namespaces, or as a plain child on the fallback
level), the template pre-imports what candidates commonly use (numpy only once a candidate's
source names it: it doubles the template's start-up), then serves the worker over length-framed
JSON on its stdin/stdout:

    spawn {code, uid, limits, timeout}  -> fork a child, harden it, load the code -> ready | error
    call  {name, args, timeout}         -> relay to the child, wait, measure its CPU -> ok | error
    map   {name, args_list, timeout, wall} -> the same for each argument list in one round trip:
                                           one frame per call from the child, each timed -> ok | error
    end   {}                            -> kill every process of the session's uid, clean up

The child has a fresh uid, resource limits, no-new-privs, seccomp (and Landlock on the fallback
level), only its own socketpair to the template, and stdout/stderr going to capped files. It is
forked by the zygote (``zygote.py``), which the template forks before it sees any candidate, so a
child inherits nothing of earlier candidates' code, arguments or replies. The template never runs
candidate code itself, validates every reply strictly, and measures CPU time from outside the
candidate (/proc accounting and wait4 rusage), so the candidate cannot fake it. Only the standard
library, ``protocol``, ``hardening`` and ``zygote`` (same folder) are imported.
"""

from __future__ import annotations

import ctypes
import fcntl
import importlib
import os
import select
import shutil
import signal
import socket
import stat
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import hardening
import importable
import protocol
from candidate_errors import candidate_error, import_hint
from group_limits import CandidateGroup, GroupBusy
from zygote import Zygote

PR_SET_CHILD_SUBREAPER = 36
TICK = os.sysconf("SC_CLK_TCK")
_libc = ctypes.CDLL(None, use_errno=True)
_FILTER: object | None = None  # the seccomp filter, built once by the template


class Reaper:
    """A small helper process, forked before the template preloads anything, that kills every process
    of a uid and empties its folder on request (``hardening.kill_uid`` forks once per session, and
    forking this process costs a third of forking the template). It is detached from the
    template (double fork), so the template's wait for orphaned escapees never waits for it. If it
    is ever gone, the template forks ``kill_uid`` itself."""

    def __init__(self, close: tuple[int, ...] = ()):
        req_r, self._req = os.pipe()
        self._rep, rep_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            if os.fork() == 0:
                os.close(self._req)
                os.close(self._rep)
                for fd in close:
                    os.close(fd)  # the worker's channel must see EOF when the template dies
                self._serve(req_r, rep_w)
            os._exit(0)
        os.waitpid(pid, 0)
        os.close(req_r)
        os.close(rep_w)

    @staticmethod
    def _serve(req: int, rep: int) -> None:
        _libc.prctl(hardening.PR_SET_DUMPABLE, 0, 0, 0, 0)
        while True:
            try:
                msg = protocol.read_frame(req)
            except protocol.FrameError:
                os._exit(0)  # the template is gone
            hardening.kill_uid(msg["uid"], msg["dir"], keep=msg["keep"])
            protocol.write_frame(rep, {"done": True})

    def kill_uid(self, uid: int, empty_dir: str, keep: str) -> None:
        if self._req >= 0:
            try:
                protocol.write_frame(self._req, {"uid": uid, "dir": empty_dir, "keep": keep})
                protocol.read_frame(self._rep, time.monotonic() + 10.0)
                return
            except (OSError, protocol.FrameError):
                os.close(self._req)
                os.close(self._rep)
                self._req = self._rep = -1
        hardening.kill_uid(uid, empty_dir, keep=keep)


_reaper: Reaper | None = None
_zygote: Zygote | None = None  # forks every candidate (zygote.py)
_group = CandidateGroup(None)  # the candidates' control group, if the worker handed us one
_on_demand: set[str] = set()  # on-demand modules the zygote has imported


def proc_cpu(pid: int) -> float:
    """CPU seconds of a live process (all its threads), from the kernel's clock for that process
    (nanoseconds); /proc clock ticks if the clock cannot be had."""
    clock = ctypes.c_int()
    if _libc.clock_getcpuclockid(pid, ctypes.byref(clock)) == 0:
        try:
            return time.clock_gettime(clock.value)
        except OSError:
            pass
    fields = proc_stat(pid)
    try:
        return sum(int(x) for x in fields[11:15]) / TICK
    except (IndexError, ValueError):
        return 0.0


def proc_stat(pid: int) -> list[bytes]:
    """The fields of /proc/<pid>/stat after the command name (state first); [] if unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return []


def describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        hint = {"SIGXCPU": " (CPU time limit)", "SIGKILL": " (killed: CPU or memory limit)",
                "SIGSEGV": " (segmentation fault)", "SIGXFSZ": " (file size limit)"}.get(name, "")
        return f"killed by {name}{hint}"
    return f"exit code {os.WEXITSTATUS(status)}"


# -- the candidate child -------------------------------------------------------------------------

def run_candidate(fd: int, code_path: str, report: dict, imports: list[str]) -> None:
    protocol.write_frame(fd, {"hardened": report})  # before any candidate code runs: trusted
    namespace: dict = {"__name__": "candidate", "__file__": code_path}
    try:
        with open(code_path, encoding="utf-8") as fh:
            source = fh.read()
        exec(compile(source, code_path, "exec"), namespace)
    except BaseException as exc:
        protocol.write_frame(fd, {"error": "candidate failed to load: " + candidate_error(exc, code_path)
                                  + import_hint(exc, imports)})
        return
    protocol.write_frame(fd, {"ready": True})
    while True:
        try:
            request = protocol.read_frame(fd)
        except protocol.FrameError:
            return
        name = request.get("call", request.get("map"))
        fn = namespace.get(name)
        if not callable(fn):
            protocol.write_frame(fd, {"error": f"candidate defines no function {name!r}"})
            continue
        batch = request["args_list"] if "map" in request else [request.get("args", [])]
        for args in batch:  # one reply frame per call; the template times each one
            failed = True
            try:
                result = fn(*args)
                failed = False
            except SystemExit as exc:
                data = protocol.encode({"error": f"candidate called sys.exit({exc.code!r})"})
            except BaseException as exc:
                data = protocol.encode({"error": candidate_error(exc, code_path) + import_hint(exc, imports)})
            if not failed:
                try:
                    data = protocol.encode({"ok": result})
                except BaseException as exc:
                    failed = True
                    data = protocol.encode({"error": protocol.unsendable(name, exc)})
            protocol.write_all(fd, data)
            if failed:
                break  # the first failure ends the batch


def child_main(sock: socket.socket, workdir: str, code_path: str, uid: int, limits: dict,
               cfg: dict, out: int, err: int, ruleset: int) -> None:
    """Runs in the forked child; never returns. ``ruleset``: the zygote's Landlock layer for the
    problem's imports (-1: none)."""
    try:
        _group.join()  # first: every process this candidate ever makes is counted with it
        if ruleset >= 0:  # out of the way of 0-3
            ruleset = fcntl.fcntl(ruleset, fcntl.F_DUPFD_CLOEXEC, 100)
        os.dup2(out, 1)
        os.dup2(err, 2)
        fd = os.dup2(sock.fileno(), 3, inheritable=False)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        keep = ruleset if ruleset >= 0 else 65536
        os.closerange(4, keep)  # the worker channel, the group's files, all the template holds
        os.closerange(keep + 1, 65536)
        imports = list(limits.get("imports", ()))
        for name in [m for m in sys.modules if m.split(".")[0] in cfg.get("on_demand", ())
                     and m.split(".")[0] not in imports]:
            del sys.modules[name]  # preloaded for another problem's candidates
        os.chdir(workdir)
        os.environ.clear()
        os.environ.update({"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
                           "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1"})
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversize writes fail with EFBIG instead
        report = hardening.harden(uid, workdir, limits, cfg["read_paths"], cfg["landlock"], _FILTER,
                                  ruleset)
        if ruleset >= 0:
            os.close(ruleset)
        run_candidate(fd, code_path, report, imports)
    except BaseException:
        try:
            os.write(2, traceback.format_exc().encode()[-3000:])
        finally:
            os._exit(70)
    os._exit(0)


# -- the template --------------------------------------------------------------------------------
def preload(names: list[str]) -> list[str]:
    """Import modules into the template (inherited by every child it forks); those that import."""
    loaded = []
    for name in names:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except ImportError:
            pass
    return loaded


class Budget:
    """What the replies of one call or batch may still hold, in bytes and in decoded values: each
    frame is refused before it is decoded if it would exceed them (the template and the worker
    both hold a batch's decoded replies)."""

    def __init__(self, limits: dict):
        self.per_reply = int(limits["max_reply_bytes"])
        self.bytes = int(limits.get("max_batch_bytes", self.per_reply))
        self.values = int(limits.get("max_batch_values", 1_000_000))

    def frame_bytes(self) -> int:
        return max(0, min(self.per_reply, self.bytes))

    def spend(self, size: int, values: int) -> None:
        self.bytes -= size
        self.values -= values


class Session:
    def __init__(self, cfg: dict, msg: dict):
        assert _zygote is not None
        wanted = [m for m in cfg.get("on_demand", []) if m not in _on_demand and m in msg["code"]]
        if wanted:  # module names from the template's own list: no candidate data
            _on_demand.update(_zygote.preload(wanted))
        self.uid = int(msg["uid"])
        self.limits = msg["limits"]
        _group.prepare(self.limits["memory_mb"], self.limits["processes"])  # may raise GroupBusy
        self.cpu_start = _group.cpu()
        self.kills_start = _group.memory_kills()
        self.workdir = os.path.join(cfg["root"], f"c{self.uid}")
        os.mkdir(self.workdir, 0o755)
        code_path = os.path.join(self.workdir, "candidate.py")
        with open(code_path, "w", encoding="utf-8") as fh:
            fh.write(msg["code"])
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        out = os.open(os.path.join(self.workdir, "stdout.txt"), flags, 0o644)
        err = os.open(os.path.join(self.workdir, "stderr.txt"), flags, 0o644)
        os.chown(self.workdir, self.uid, self.uid)  # the candidate's only writable place
        parent, child = socket.socketpair()
        try:
            self.pid = _zygote.spawn({"uid": self.uid, "workdir": self.workdir,
                                      "code_path": code_path, "limits": self.limits},
                                     child.fileno(), out, err)
        finally:
            os.close(out)
            os.close(err)
            child.close()
        self.sock = parent
        self.fd = parent.fileno()
        self.status: int | None = None
        self.cpu = 0.0
        self.last_bytes = self.last_values = 0
        self.last_decode = 0.0

    def stderr_tail(self, limit: int = 1500) -> str:
        """The end of the candidate's stderr file, if it is still the regular file we made: the
        candidate owns its folder and may have put a symlink (to a file only we can read) or a
        FIFO (which would block us) in its place."""
        try:
            fd = os.open(os.path.join(self.workdir, "stderr.txt"),
                         os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return ""
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return ""
            size = os.fstat(fd).st_size
            return os.pread(fd, limit, max(0, size - limit)).decode("utf-8", "replace")
        except OSError:
            return ""
        finally:
            os.close(fd)

    def _dead(self) -> str:
        if self.status is None:
            assert _zygote is not None
            self.status, self.cpu = _zygote.wait(self.pid)
        if _group.memory_kills() > self.kills_start:
            return (f"killed at the memory limit: {self.limits['memory_mb']} MB for all its "
                    "processes together, memfd and files in its folder included")
        return describe(self.status)

    def cpu_now(self) -> float:
        """CPU seconds so far: of every process of the candidate with a group (forked children
        included), else of its main process."""
        total = _group.cpu()
        return proc_cpu(self.pid) if total is None else total - self.cpu_start

    def over_cpu(self, used: float) -> dict | None:
        """The session's CPU limit, summed over the candidate's processes (rlimits only see each
        process on its own): the error that ends it, once ``used`` (``cpu_now()``) exceeds it."""
        if not _group.active or used <= float(self.limits["cpu_seconds"]):
            return None
        self.reap()
        return {"error": f"used {used:.1f} CPU seconds across its processes, over the limit of "
                         f"{self.limits['cpu_seconds']}", "kind": "timeout", "limit": "cpu"}

    def start(self, timeout: float) -> dict:
        """The child's two start-up frames: what hardening is in force (written before any
        candidate code ran, so the report is ours, not the candidate's), then ready or the
        load error. Either a ``ready`` reply with that report or an error."""
        deadline = time.monotonic() + timeout
        first = self.receive(timeout, 1 << 20, "hardened")
        if "hardened" not in first:
            return first
        loading = self.cpu_now()
        reply = self.receive(max(0.0, deadline - time.monotonic()), 1 << 20, "ready")
        if "ready" not in reply:
            return reply
        # what its module-level code cost: work done at import is work (issue 19, finding 4)
        return {"ready": True, "hardening": first["hardened"],
                "load_cpu": max(0.0, self.cpu_now() - loading)}

    def receive(self, timeout: float, max_bytes: int, expect: str = "ok",
                max_values: int | None = None) -> dict:
        """The child's next frame, checked: ``expect`` (its value only) or an error. Sets
        ``last_bytes``/``last_values`` (what it held) and ``last_decode`` (the CPU seconds we
        spent reading and decoding it, which count against the candidate)."""
        self.last_bytes = self.last_values = 0
        spent = time.process_time()
        try:
            reply, self.last_bytes, self.last_values = protocol.read_sized(
                self.fd, time.monotonic() + timeout, max_bytes, max_values)
        except protocol.FrameError as exc:
            if exc.kind == "eof":
                how = self._dead()
                return {"error": f"candidate process ended ({how}). {self.stderr_tail()}".strip(),
                        "kind": "crash"}
            self.reap()
            if exc.kind == "timeout":
                return {"error": f"exceeded the time limit of {timeout:.2f}s; all its processes killed",
                        "kind": "timeout"}
            return {"error": str(exc), "kind": exc.kind}
        finally:
            self.last_decode = time.process_time() - spent
        if not isinstance(reply, dict) or not ({expect, "error"} & reply.keys()):
            self.reap()
            return {"error": "reply is not a protocol object", "kind": "protocol"}
        if expect in reply:
            return {expect: reply[expect]}
        # the candidate's own words: never a kind it names itself
        return {"error": str(reply["error"])[:3000], "kind": "exception"}  # head first

    def call(self, msg: dict) -> dict:
        if select.select([self.fd], [], [], 0)[0]:  # bytes nobody asked for: a forged reply
            self.reap()
            return {"error": "the candidate wrote to its channel outside a call", "kind": "protocol"}
        before = self.cpu_now()
        started = time.monotonic()
        try:
            protocol.write_frame(self.fd, {"call": msg["name"], "args": msg.get("args", [])})
        except OSError:
            return {"error": f"candidate process is gone ({self._dead()})", "kind": "crash"}
        budget = Budget(self.limits)
        reply = self.receive(float(msg["timeout"]), budget.frame_bytes(), max_values=budget.values)
        wall = time.monotonic() - started
        if "ok" in reply:
            now = self.cpu_now()
            return self.over_cpu(now) or {"ok": reply["ok"], "cpu": max(0.0, now - before)
                                          + self.last_decode, "wall": wall}
        return reply

    def map(self, msg: dict) -> dict:
        """Call the function once per argument list, in one round trip from the worker: the child
        answers each call with its own frame, so each call keeps its own deadline (the per-call
        limit, within what is left of the session's wall time) and its own CPU measurement."""
        if select.select([self.fd], [], [], 0)[0]:
            self.reap()
            return {"error": "the candidate wrote to its channel outside a call", "kind": "protocol"}
        per_call, wall_end = float(msg["timeout"]), time.monotonic() + float(msg["wall"])
        before = self.cpu_now()
        try:
            protocol.write_frame(self.fd, {"map": msg["name"], "args_list": msg["args_list"]})
        except OSError:
            return {"error": f"candidate process is gone ({self._dead()})", "kind": "crash"}
        values, cpus = [], []
        budget = Budget(self.limits)  # what the whole batch may hold
        for index in range(len(msg["args_list"])):
            reply = self.receive(max(0.0, min(per_call, wall_end - time.monotonic())),
                                 budget.frame_bytes(), max_values=budget.values)
            if "ok" not in reply:
                return {**reply, "index": index}
            budget.spend(self.last_bytes, self.last_values)
            now = self.cpu_now()
            cpus.append(max(0.0, now - before) + self.last_decode)
            before = now
            if over := self.over_cpu(now):
                return {**over, "index": index}
            values.append(reply["ok"])
        return {"ok": values, "cpu": cpus}

    def reap(self) -> None:
        """Kill every process of the session's uid (setsid escapees included) and wait for them:
        the zygote, their parent and subreaper, does it."""
        assert _zygote is not None
        status, cpu = _zygote.reap(self.pid, self.uid, self.workdir, keep="stderr.txt")
        if self.status is None:  # stderr is read by end()
            self.status, self.cpu = status, cpu
        if _group.active:
            self.cpu = self.cpu_now()  # its children's CPU too

    def _unread_bytes(self) -> bool:
        """Bytes waiting on the channel (not just the EOF a dead child leaves)."""
        try:
            return bool(self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except OSError:
            return False

    def _settle(self, seconds: float = 0.1) -> None:
        """Give a child still on the CPU after its last reply (an honest one is back in its read
        at once; one that forged a frame is still writing its real replies) a moment to show it."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self._unread_bytes():
            if proc_stat(self.pid)[:1] != [b"R"]:
                return
            time.sleep(0.001)

    def end(self) -> dict:
        idle = self.status is None  # alive after its last reply: it owes us nothing more
        if idle:
            self._settle()
        self.reap()
        forged = idle and self._unread_bytes()  # checked once it is dead: no write still in flight
        tail = self.stderr_tail()
        self.sock.close()
        try:
            os.unlink(os.path.join(self.workdir, "stderr.txt"))
            os.rmdir(self.workdir)
        except OSError:
            shutil.rmtree(self.workdir, ignore_errors=True)
        reply = {"ended": True, "cpu": self.cpu, "stderr": tail}
        if forged:
            reply["violation"] = "the candidate wrote to its channel outside a call (forged reply)"
        return reply


def template_main() -> None:
    global _FILTER, _group, _reaper, _zygote
    cin, cout = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    cfg = protocol.read_frame(cin)
    _group = CandidateGroup(cfg.get("group"))
    # the reaper's helpers become candidates' uids: they hold neither channel nor group file
    _reaper = Reaper(close=(cin, cout, *_group.descriptors()))
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    _libc.prctl(hardening.PR_SET_DUMPABLE, 0, 0, 0, 0)  # no /proc/<pid>/fd or ptrace into us
    loaded = preload(cfg.get("preload", []))
    _FILTER = hardening.seccomp_filter()
    seccomp = _FILTER is not None
    _zygote = Zygote(lambda sock, order, out, err, ruleset: child_main(
        sock, order["workdir"], order["code_path"], int(order["uid"]), order["limits"], cfg, out,
        err, ruleset), preload, _reaper.kill_uid, close=(cin, cout),
        prepare=lambda order: importable.ruleset_for(tuple(sorted(order["limits"].get("imports", ()))),
                                                     cfg.get("system_paths", []), cfg["root"]))
    protocol.write_frame(cout, {"ready": True, "pid": os.getpid(), "preloaded": loaded,
                                "seccomp": seccomp, "landlock_abi": hardening.landlock_abi(),
                                "root": os.geteuid() == 0})
    _serve(cfg, cin, cout)


def _serve(cfg: dict, cin: int, cout: int) -> None:
    """Answer the worker's requests (spawn, call, map, end, ping) until it goes away; at most one
    candidate session at a time."""
    session: Session | None = None
    while True:
        try:
            msg = protocol.read_frame(cin)
        except protocol.FrameError:
            break  # the worker is gone
        op = msg.get("op")
        if op == "spawn":
            if session is not None:
                session.end()
                session = None
            try:
                session = Session(cfg, msg)
            except GroupBusy:
                break  # an earlier candidate outlived its session: the worker starts a fresh sandbox
            reply = session.start(float(msg["timeout"]))
            if "ready" not in reply:
                reply = {"error": reply.get("error", "load failed"), "kind": "load"}
                session.end()
                session = None
        elif op == "call" and session is not None:
            reply = session.call(msg)
        elif op == "map" and session is not None:
            reply = session.map(msg)
        elif op == "end" and session is not None:
            reply = session.end()
            session = None
        elif op == "ping":
            reply = {"pong": True}
        else:
            reply = {"error": f"bad request {op!r}", "kind": "protocol"}
        try:
            data = protocol.encode(reply)
        except (RecursionError, ValueError, TypeError):  # a relayed value we cannot send on
            if session is not None:
                session.end()
                session = None
            data = protocol.encode({"error": "reply nested too deeply to relay", "kind": "protocol"})
        protocol.write_all(cout, data)
    if session is not None:
        session.end()


if __name__ == "__main__":
    template_main()
