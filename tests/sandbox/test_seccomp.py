"""seccomp is in force at every isolation level: the sandbox's report, `evolve doctor` and the
kernel's answer to a candidate agree (with seccomp off, only a UDP test failed before these)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

from sandbox import session
from sandbox.session import SandboxSession

UNIX_SOCKET = '''
import socket
def f():
    try:
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()
    except OSError as exc:
        return exc.errno
    return "ALLOWED"
'''


def test_the_sandbox_reports_seccomp_and_the_kernel_enforces_it(level):
    report = session.isolation_report()
    assert report["level"] == level and report["seccomp"] is True, report
    with SandboxSession(UNIX_SOCKET) as box:
        assert box.hardening["seccomp"] is True, box.hardening
        # neither the namespaces nor Landlock stop a new Unix socket; only the filter does (EPERM)
        assert box.call("f") == errno.EPERM


def test_doctor_shows_the_level_seccomp_and_blocked_probes(level):
    env = {**os.environ, "COLUMNS": "200", "EVOLVE_SANDBOX": level}
    out = subprocess.run([sys.executable, "-m", "evolve.cli", "doctor"], env=env, text=True,
                         capture_output=True, timeout=120)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in out.stdout.splitlines() if line.count("│") == 3}
    assert rows["level"] == level and rows["seccomp"] == "yes", out.stdout
    assert "'seccomp': True" in rows["candidate hardening"], out.stdout
    landlock = "'landlock_abi': 0" not in rows["candidate hardening"]
    assert landlock == (level == "landlock"), out.stdout  # Landlock is the fallback's own layer
    probes = {k: v for k, v in rows.items() if k.startswith("probe: ")}
    assert len(probes) == 4 and set(probes.values()) == {"blocked"}, out.stdout
