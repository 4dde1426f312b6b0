"""No namespaces and no mounts from inside a candidate (issue 18, finding 4): ``clone`` with a
namespace flag was allowed (a child got new user, mount, net and pid namespaces with every
capability inside), and the new mount API was not denied. Threads and plain forks still work:
``clone3`` fails with ENOSYS, so the C library falls back to ``clone``."""

from __future__ import annotations

from sandbox.hardening import DENIED_SYSCALLS, NAMESPACE_FLAGS

from .test_hostile import healthy, run

CLONE_INTO = '''
import ctypes, os
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x10000000, 0x20000000, 0x40000000
SIGCHLD = 17
def f():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    out = {}
    for name, flag in (("user", CLONE_NEWUSER), ("user+mount", CLONE_NEWUSER | CLONE_NEWNS),
                       ("net", CLONE_NEWNET), ("pid", CLONE_NEWPID)):
        pid = libc.syscall(56, flag | SIGCHLD, 0, 0, 0, 0)  # clone(flags, stack=NULL, ...)
        if pid == 0:
            os._exit(0)
        out[name] = "refused" if pid < 0 else "cloned"
        if pid > 0:
            os.waitpid(pid, 0)
    out["clone3"] = os.strerror(ctypes.get_errno()) if libc.syscall(435, None, 0) < 0 else "ran"
    return out
'''

STILL_WORKS = '''
import os, threading
def f():
    box = []
    t = threading.Thread(target=lambda: box.append(1))
    t.start(); t.join()
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    _, status = os.waitpid(pid, 0)
    return [box, os.waitstatus_to_exitcode(status)]
'''


def test_clone_into_new_namespaces_is_refused(level):
    kind, out = run(CLONE_INTO)
    assert kind == "ok", out
    assert out == {"user": "refused", "user+mount": "refused", "net": "refused", "pid": "refused",
                   "clone3": "Function not implemented"}


def test_threads_and_forks_still_work(level):
    assert run(STILL_WORKS) == ("ok", [[1], 7])
    healthy()


def test_the_new_mount_api_is_denied():
    assert {"fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree",
            "mount_setattr"} <= set(DENIED_SYSCALLS)
    assert NAMESPACE_FLAGS & 0x10000000  # CLONE_NEWUSER among the refused clone flags


SHARED_MEMORY = '''
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
IPC_CREAT = 0o1000
def f(message='from the second'):
    """Leave ``message`` in a System V segment for a later candidate; read what one left."""
    out = {}
    shmid = libc.shmget(0x5EED, 1 << 16, IPC_CREAT | 0o666)
    if shmid < 0:
        return {"shmget": ctypes.get_errno()}
    buf = (ctypes.c_char * (1 << 16)).from_address(libc.shmat(shmid, None, 0))
    out["found"] = bytes(buf[1:1 + buf[0][0]]).decode()
    data = message.encode()
    buf[0] = bytes([len(data)])
    buf[1:1 + len(data)] = data
    out["queue"] = libc.msgget(0x5EED, IPC_CREAT | 0o666) >= 0
    out["semaphore"] = libc.semget(0x5EED, 1, IPC_CREAT | 0o666) >= 0
    return out
'''


def test_system_v_ipc_cannot_carry_data_to_a_later_candidate(level):
    """A red team's candidate filled a segment with the windows it was shown; the next candidate of
    the same template (another uid), and a restarted one, read it: 94.87% against DeepSeek's
    85.57% on moe_eplb train from its second evaluation in a worker."""
    first = run(SHARED_MEMORY.replace("from the second", "from the first"))
    second = run(SHARED_MEMORY)
    assert first == ("ok", {"shmget": 1}), first  # EPERM: denied, nothing was written
    assert second == ("ok", {"shmget": 1}), second
    assert {"shmget", "shmat", "msgget", "semget", "mq_open"} <= set(DENIED_SYSCALLS)
