"""Issue 18, finding 3: a candidate's memory, CPU and processes are limited and measured as a
whole (a control group per candidate), not per process, on both sandbox levels."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from sandbox import cgroups, session
from sandbox.session import CandidateError, Limits, SandboxSession

CODE = r'''
import os, time

def burn(seconds):
    start = time.process_time()
    while time.process_time() - start < seconds:
        pass

def in_child(seconds, times=1):
    """Burn CPU in forked children, one after the other; the caller itself stays idle."""
    for _ in range(times):
        pid = os.fork()
        if pid == 0:
            burn(seconds)
            os._exit(0)
        os.waitpid(pid, 0)
    return times

def hold(processes, mb):
    """Each of ``processes`` children holds ``mb`` MB at once; their exit statuses."""
    kids = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:
            block = bytearray(mb << 20)
            for i in range(0, len(block), 4096):
                block[i] = 1
            time.sleep(1.5)
            os._exit(0)
        kids.append(pid)
    return [os.waitpid(k, 0)[1] for k in kids]

def memfds(count, mb):
    """Anonymous files in memory (each under the file-size limit): invisible to RLIMIT_AS."""
    fds = [os.memfd_create("x") for _ in range(count)]
    for fd in fds:
        for _ in range(mb):
            os.write(fd, b"a" * (1 << 20))
    return count * mb

def descriptors():
    """Open descriptors: (number, is it a regular file) for each."""
    out = []
    for fd in range(4096):
        try:
            out.append((fd, __import__("stat").S_ISREG(os.fstat(fd).st_mode)))
        except OSError:
            pass
    return out

def ok():
    return 42
'''


@pytest.fixture(autouse=True)
def groups_here(level):
    support = cgroups.probe()
    if support.version == "none":
        if os.environ.get("CI"):
            pytest.fail(f"CI machines must give candidate cgroups: {support.reason}")
        pytest.skip(f"no candidate cgroups here: {support.reason}")
    return support


def test_the_sandbox_reports_the_group_in_force(level):
    report = session.isolation_report()
    assert report["aggregate"].startswith("cgroup v"), report


def test_cpu_spent_in_forked_children_is_the_candidates(level):
    with SandboxSession(CODE) as box:
        box.call("in_child", 0.5)
        assert box.last_cpu >= 0.4  # was ~0.03: only the idle parent's own CPU was counted
        box.call_many("in_child", [(0.3,), (0.0,)])
        assert box.batch_cpu[0] >= 0.25 and box.batch_cpu[1] < 0.2


def test_session_cpu_limit_is_summed_over_processes(level):
    limits = Limits(cpu_seconds=1, call_seconds=20, wall_seconds=30)
    with pytest.raises(CandidateError) as err:
        with SandboxSession(CODE, limits) as box:  # each child stays under the per-process rlimit
            box.call("in_child", 0.7, 3)
    assert err.value.kind == "timeout"
    assert "CPU seconds across its processes" in err.value.message


def test_memory_limit_holds_all_processes_together(level):
    limits = Limits(memory_mb=256, call_seconds=20)
    with SandboxSession(CODE, limits) as box:  # 3 x 120 MB: each under 256 MB, together over
        statuses = box.call("hold", 3, 120)
    assert any(os.WIFSIGNALED(s) and os.WTERMSIG(s) == signal.SIGKILL for s in statuses), statuses


def test_memfd_pages_count_against_memory(level):
    limits = Limits(memory_mb=256, call_seconds=20)
    with pytest.raises(CandidateError) as err:
        with SandboxSession(CODE, limits) as box:
            box.call("memfds", 30, 15)  # 450 MB in 15 MB files (file_size_mb is 16)
    assert err.value.kind == "crash"
    assert "memory limit" in err.value.message


def test_the_next_candidate_starts_with_a_clean_group(level):
    limits = Limits(memory_mb=256, call_seconds=20)
    with pytest.raises(CandidateError):
        with SandboxSession(CODE, limits) as box:
            box.call("memfds", 30, 15)
    with SandboxSession(CODE, limits) as box:
        assert box.call("ok") == 42
        assert box.last_cpu < 0.5


def test_the_candidate_holds_none_of_the_groups_files(level):
    with SandboxSession(CODE) as box:
        held = box.call("descriptors")
    assert [fd for fd, _ in held] == [0, 1, 2, 3], held  # std streams and the channel only


def test_groups_are_removed_with_their_sandbox(level):
    with SandboxSession(CODE) as box:
        box.call("ok")
    support = cgroups.probe()
    mine = f"{cgroups.PREFIX}{os.getpid()}-"
    assert any(d.name.startswith(mine) for d in support.parents[0].iterdir())
    session.reset()
    cgroups.remove_leftovers(3.0)  # a group whose processes were still exiting when it closed
    assert not any(d.name.startswith(mine) for p in support.parents for d in p.iterdir())


@pytest.mark.parametrize("switch", ["on", "off"])
def test_doctor_shows_the_limits_in_force(level, switch):
    env = {**os.environ, "COLUMNS": "200", "EVOLVE_SANDBOX": level,
           **({"EVOLVE_CGROUPS": "off"} if switch == "off" else {})}
    out = subprocess.run([sys.executable, "-m", "evolve.cli", "doctor"], env=env, text=True,
                         capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in out.stdout.splitlines() if line.count("│") == 3}
    counted = float(rows["CPU of forked children"].split()[0])
    if switch == "on":
        assert rows["limits per candidate"].startswith("cgroup v")
        assert "summed over its processes" in rows["default limits"]
        assert counted >= 0.25
    else:
        assert rows["limits per candidate"].startswith("none (turned off by EVOLVE_CGROUPS=off)")
        assert rows["without a group"].startswith("per process only")
        assert counted < 0.1  # what the fallback cannot see, shown as such
