"""Child-side hardening, applied in the forked candidate process before its code loads.

Order matters: resource limits, then a fresh unprivileged uid/gid (all capabilities go with it),
then no-new-privileges, Landlock on the fallback level (reads limited to the interpreter and the
candidate's own folder, no file creation at all since there is no size-capped tmpfs there, no
TCP, no signals outside its domain), then a seccomp filter (no new sockets of any family, no
ptrace, no namespace or mount calls, no clone into new namespaces, no System V IPC or POSIX
message queues, clone3 ENOSYS). Each step
reports what it did so the level in force is visible. Standard library + ctypes (+ pyseccomp for the filter).
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import shutil
import signal

PR_SET_NO_NEW_PRIVS = 38
PR_SET_DUMPABLE = 4
_SYS_LANDLOCK = {"create": 444, "add_rule": 445, "restrict": 446}  # same on x86_64 and aarch64

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def set_limits(limits: dict) -> None:
    cpu = int(limits["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # hard > soft: SIGKILL follows SIGXCPU
    mem = int(limits["memory_mb"]) << 20
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    size = int(limits["file_size_mb"]) << 20
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    nofile = int(limits["open_files"])
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    nproc = int(limits["processes"])
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))  # binds: the uid is not root
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


PR_SET_KEEPCAPS = 8
CAP_DAC_READ_SEARCH = 2


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def drop_identity(uid: int, keep_read_search: bool) -> bool:
    """Become a fresh uid/gid with no supplementary groups, and no capability but (optionally)
    CAP_DAC_READ_SEARCH: on the fallback level the interpreter may sit in a folder a fresh uid
    cannot enter, and Landlock, not file modes, is what limits reads there."""
    if os.geteuid() != 0:
        return False
    os.setgroups([])
    if keep_read_search:
        _libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if keep_read_search:
        header = _CapHeader(version=0x20080522, pid=0)  # _LINUX_CAPABILITY_VERSION_3
        data = (_CapData * 2)()
        data[0].effective = data[0].permitted = 1 << CAP_DAC_READ_SEARCH
        if _libc.capset(ctypes.byref(header), data) != 0:
            raise OSError(ctypes.get_errno(), "capset failed")
    return True


def no_new_privs() -> None:
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(NO_NEW_PRIVS) failed")


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi() -> int:
    abi = _libc.syscall(_SYS_LANDLOCK["create"], None, 0, 1)  # LANDLOCK_CREATE_RULESET_VERSION
    return abi if abi > 0 else 0


def apply_landlock(read_paths: list[str], write_paths: list[str]) -> int:
    """Restrict the filesystem (and TCP, and signals where the kernel allows); return the ABI used."""
    abi = landlock_abi()
    if abi < 1:
        return 0
    read = (1 << 0) | (1 << 2) | (1 << 3)  # execute, read file, read dir
    fs_all = (1 << 13) - 1
    if abi >= 2:
        fs_all |= 1 << 13  # refer
    if abi >= 3:
        fs_all |= 1 << 14  # truncate
    attr = _RulesetAttr(handled_access_fs=fs_all,
                        handled_access_net=((1 << 0) | (1 << 1)) if abi >= 4 else 0,
                        scoped=((1 << 0) | (1 << 1)) if abi >= 6 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    fd = _libc.syscall(_SYS_LANDLOCK["create"], ctypes.byref(attr), size, 0)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        file_rights = (1 << 0) | (1 << 1) | (1 << 2) | ((1 << 14) if abi >= 3 else 0)
        _add_rules(fd, ((read_paths, read), (write_paths, fs_all)), file_rights, strict=True)
        if _libc.syscall(_SYS_LANDLOCK["restrict"], fd, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(fd)
    return abi


READ_FILE, READ_DIR, EXECUTE = 1 << 2, 1 << 3, 1 << 0


def read_ruleset(full: list[str], listing: list[str]) -> int:
    """A Landlock ruleset that handles reads only: files and folders under ``full`` may be read,
    folders in ``listing`` only listed (their files stay unreadable); its descriptor, for
    ``restrict`` in each candidate, or -1 without Landlock. Writes, TCP and signals are left to
    the other layers."""
    if landlock_abi() < 1:
        return -1
    attr = _RulesetAttr(handled_access_fs=EXECUTE | READ_FILE | READ_DIR)
    fd = _libc.syscall(_SYS_LANDLOCK["create"], ctypes.byref(attr), 8, 0)
    if fd < 0:
        return -1
    _add_rules(fd, ((full, EXECUTE | READ_FILE | READ_DIR), (listing, READ_DIR)), EXECUTE | READ_FILE,
               strict=False)
    return fd


def _add_rules(fd: int, groups: tuple[tuple[list[str], int], ...], file_rights: int,
               strict: bool) -> None:
    """Allow each group's access beneath each of its paths (a file gets only ``file_rights`` of
    it; a missing path is skipped); ``strict``: a rule the kernel refuses is an error."""
    for paths, access in groups:
        for path in paths:
            try:
                pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                allowed = access if os.path.isdir(path) else access & file_rights
                rule = _PathBeneath(allowed_access=allowed, parent_fd=pfd)
                refused = allowed and _libc.syscall(_SYS_LANDLOCK["add_rule"], fd, 1, ctypes.byref(rule), 0)
                if refused and strict:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule({path}) failed")
            finally:
                os.close(pfd)


def restrict(ruleset: int) -> None:
    """Enforce a prepared ruleset on this process (after no_new_privs)."""
    if _libc.syscall(_SYS_LANDLOCK["restrict"], ruleset, 0) != 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")


DENIED_SYSCALLS = ("socket", "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2",
                   "unshare", "setns", "pivot_root", "chroot", "bpf", "perf_event_open", "keyctl",
                   "add_key", "request_key", "kexec_load", "init_module", "finit_module",
                   "delete_module", "reboot", "swapon", "swapoff", "userfaultfd", "io_uring_setup",
                   "open_by_handle_at", "name_to_handle_at",
                   # the new mount API: usable inside a user namespace of one's own
                   "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree",
                   "mount_setattr",
                   # System V IPC and POSIX message queues: objects that outlive the process
                   # (a later candidate of the same template, or a restarted one, read a shared
                   # memory segment an earlier one filled with the instances it was shown)
                   "shmget", "shmat", "shmdt", "shmctl", "msgget", "msgsnd", "msgrcv", "msgctl",
                   "semget", "semop", "semtimedop", "semctl", "ipc", "mq_open", "mq_unlink",
                   "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr")
# clone() flags that make new namespaces (mount, cgroup, uts, ipc, user, pid, net): a fresh user
# namespace holds every capability inside it, the way to mounts and kernel surface seccomp denies
NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 \
    | 0x40000000


def seccomp_filter() -> object | None:
    """The candidates' seccomp filter, built once by the template (building it costs about 1.6 ms,
    loading a built one 0.6 ms): deny new sockets (the candidate only has its inherited
    socketpair) and escape-prone calls. None without pyseccomp."""
    try:
        import pyseccomp as sc
    except ImportError:
        return None
    filt = sc.SyscallFilter(defaction=sc.ALLOW)
    rules = [(errno.EPERM, name, ()) for name in DENIED_SYSCALLS]
    # clone3 passes its flags in memory, which seccomp cannot read: ENOSYS makes the C library
    # fall back to clone, whose flags it can
    rules.append((errno.ENOSYS, "clone3", ()))
    rules += [(errno.EPERM, "clone", (sc.Arg(0, sc.MASKED_EQ, bit, bit),))
              for bit in (1 << i for i in range(32)) if NAMESPACE_FLAGS & bit]
    for err, name, args in rules:
        try:
            filt.add_rule(sc.ERRNO(err), name, *args)
        except (ValueError, RuntimeError, OSError):
            continue  # a syscall this architecture does not have
    return filt


def harden(uid: int, workdir: str, limits: dict, read_paths: list[str], landlock: bool,
           seccomp: object | None, imports_ruleset: int = -1) -> dict:
    """Apply everything in order; return a report of what is in force."""
    set_limits(limits)
    report = {"uid_drop": drop_identity(uid, keep_read_search=landlock)}
    no_new_privs()
    if imports_ruleset >= 0:  # reads: the standard library and the problem's packages only
        restrict(imports_ruleset)
    report["imports"] = sorted(limits.get("imports", ())) if imports_ruleset >= 0 else "any"
    # no size-capped tmpfs on this level: the candidate may read its folder but create nothing
    report["landlock_abi"] = apply_landlock([*read_paths, workdir], []) if landlock else 0
    if seccomp is not None:
        seccomp.load()
    report["seccomp"] = seccomp is not None
    return report


def kill_uid(uid: int, empty_dir: str | None = None, keep: str = "") -> None:
    """Kill every process of ``uid`` from a short-lived helper running as that uid, which then
    empties ``empty_dir`` (files the uid owns) but for ``keep``. kill(-1) from the uid reaches
    all of its processes (setsid escapees included) and nothing else; a second sweep catches a
    fork that was in flight. Needs CAP_SETUID; waits for the helper."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setresuid(uid, uid, uid)
            for _ in range(3):
                os.kill(-1, signal.SIGKILL)
        except OSError:
            pass  # ESRCH: nothing (left) to kill; EPERM: not allowed to become the uid
        if empty_dir and os.path.isdir(empty_dir):
            for entry in os.listdir(empty_dir):
                path = os.path.join(empty_dir, entry)
                if entry == keep:
                    continue
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    try:
                        os.unlink(path)
                    except OSError:
                        pass
        os._exit(0)
    os.waitpid(pid, 0)
