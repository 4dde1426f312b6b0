"""The process every candidate is forked from (runs inside the sandbox; issue 18, finding 2).

A forked child inherits its parent's memory, freed blocks included. The template relays each
candidate's code, call arguments (the instances it is scored on) and replies, so a candidate
forked from the template could read earlier candidates' sources and instances there. The template
therefore forks this zygote once, after preloading and before any candidate exists; the zygote
only ever receives orders that hold no candidate data (a uid, paths, limits and the descriptors
of the new child's channel and output files) and forks the candidates from its own clean memory.

It is also the candidates' parent and subreaper: it reports each one's exit status and CPU time
(wait4 rusage) and, when a session ends, kills every process of its uid (the template's reaper
helper) and waits until no orphaned escapee is left. Orders travel as one JSON datagram each on a
SOCK_SEQPACKET socket pair, descriptors attached.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import socket
import time
from collections.abc import Callable

PR_SET_CHILD_SUBREAPER = 36
PR_SET_DUMPABLE = 4
MAX_ORDER = 1 << 16
_libc = ctypes.CDLL(None, use_errno=True)


class Zygote:
    """The template's handle on its zygote; ``run_child(sock, order, out, err, ready)`` is what a
    forked candidate runs (never returns), ``ready = prepare(order)`` what the zygote readies for
    it beforehand in its own, long-lived memory (e.g. a cached Landlock ruleset),
    ``preload(names)`` imports modules, ``kill_uid(uid, dir, keep)`` kills a uid's processes and
    empties its folder."""

    def __init__(self, run_child: Callable[..., None], preload: Callable[[list[str]], list[str]],
                 kill_uid: Callable[[int, str, str], None], close: tuple[int, ...] = (),
                 prepare: Callable[[dict], object] = lambda order: None):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.pid = os.fork()
        if self.pid == 0:
            ours.close()
            for fd in close:
                os.close(fd)  # the worker's channel: it must see EOF when the template dies
            _serve(theirs, run_child, preload, kill_uid, prepare)
        theirs.close()
        self._sock = ours

    def _order(self, order: dict, fds: tuple[int, ...] = ()) -> dict:
        socket.send_fds(self._sock, [json.dumps(order).encode()], list(fds))
        data = self._sock.recv(MAX_ORDER)
        if not data:
            raise OSError("the sandbox zygote is gone")
        return json.loads(data)

    def spawn(self, order: dict, channel: int, out: int, err: int) -> int:
        """Fork a candidate for ``order`` (uid, workdir, code path, limits) with these descriptors
        as its channel to the template and its stdout/stderr; its pid."""
        return int(self._order({"op": "spawn", **order}, (channel, out, err))["pid"])

    def preload(self, names: list[str]) -> list[str]:
        return self._order({"op": "preload", "names": names})["loaded"]

    def wait(self, pid: int) -> tuple[int, float]:
        """Wait for the candidate ``pid`` to end: (wait status, CPU seconds it used)."""
        reply = self._order({"op": "wait", "pid": pid})
        return int(reply["status"]), float(reply["cpu"])

    def reap(self, pid: int, uid: int, workdir: str, keep: str) -> tuple[int, float]:
        """Kill the candidate and every process of its uid, empty its folder but for ``keep``,
        wait for orphaned escapees; (wait status, CPU seconds) of the candidate."""
        reply = self._order({"op": "reap", "pid": pid, "uid": uid, "dir": workdir, "keep": keep})
        return int(reply["status"]), float(reply["cpu"])


def _serve(sock: socket.socket, run_child: Callable[..., None],
           preload: Callable[[list[str]], list[str]], kill_uid: Callable[[int, str, str], None],
           prepare: Callable[[dict], object]) -> None:
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    ended: dict[int, tuple[int, float]] = {}  # candidates already waited for
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(sock, MAX_ORDER, 3)
        except OSError:
            os._exit(0)
        if not data:
            os._exit(0)  # the template is gone
        order = json.loads(data)
        op = order.get("op")
        if op == "spawn":
            reply = {"pid": _fork(run_child, order, fds, sock, prepare(order))}
        elif op == "preload":
            reply = {"loaded": preload(list(order["names"]))}
        elif op == "wait":
            reply = _status(ended, int(order["pid"]))
        elif op == "reap":
            pid = int(order["pid"])
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            reply = _status(ended, pid)
            kill_uid(int(order["uid"]), str(order["dir"]), str(order["keep"]))
            _wait_orphans()
            ended.clear()
        else:
            reply = {"error": f"bad order {op!r}"}
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
        sock.send(json.dumps(reply).encode())


def _fork(run_child: Callable[..., None], order: dict, fds: list[int], sock: socket.socket,
          ready: object) -> int:
    pid = os.fork()
    if pid == 0:
        sock.close()
        # out of the way of 0-3, which the child sets up from these
        channel, out, err = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in fds)
        for fd in fds:
            os.close(fd)
        run_child(socket.socket(fileno=channel), order, out, err, ready)
        os._exit(70)  # run_child never returns
    return pid


def _status(ended: dict[int, tuple[int, float]], pid: int) -> dict:
    if pid not in ended:
        try:
            _, status, usage = os.wait4(pid, 0)
            ended[pid] = (status, usage.ru_utime + usage.ru_stime)
        except ChildProcessError:
            ended[pid] = (0, 0.0)
    status, cpu = ended[pid]
    return {"status": status, "cpu": cpu}


def _wait_orphans(seconds: float = 3.0) -> None:
    """We are a subreaper: every orphaned escapee is our child now; wait until none is left."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # no children left at all
        if pid == 0:
            time.sleep(0.001)
