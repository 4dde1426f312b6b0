"""What a candidate may import (issue 19, finding 5), enforced by what it may read.

A problem lists the packages beyond the standard library its candidates may use (``imports`` in
problem.toml; every problem here allows numpy). The interpreter's environment holds much more
(OR-Tools among it: a CP-SAT candidate reached an 11.5% training gap on jssp, and wall-clock
solver limits made pod_packing scores nondeterministic), and a rule in the candidate's own
process could be undone by it. So each candidate gets a Landlock layer that lets it read only:
the standard library (every entry of its folder but ``site-packages``), the allowed packages
(with their ``<name>.libs`` folder of vendored shared libraries), the system's libraries, and the
sandbox folder its own folder is in. The other folders on ``sys.path`` may be listed, not read,
so importing anything else fails. The zygote builds each distinct layer once
(``ruleset_for``) and every candidate forked from it enforces that layer on itself before any
of its code runs. Runs inside the sandbox; standard library only.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import sysconfig

import hardening

_rulesets: dict[tuple[str, ...], int] = {}
NOT_PACKAGES = ("site-packages", "dist-packages")


def _stdlib_dirs() -> list[str]:
    paths = sysconfig.get_paths()
    return sorted({os.path.realpath(paths[k]) for k in ("stdlib", "platstdlib")})


def stdlib_paths() -> list[str]:
    """The standard library: every entry of its folders but the package folders inside them."""
    out = []
    for folder in _stdlib_dirs():
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        out += [os.path.join(folder, e) for e in entries if e not in NOT_PACKAGES]
    out += [p for p in sys.path if p.endswith(".zip") and os.path.exists(p)]
    return out


def package_paths(names: tuple[str, ...]) -> list[str]:
    """The files of each allowed top-level package or module (and its vendored libraries)."""
    out = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        places = list(spec.submodule_search_locations or ([spec.origin] if spec.origin else []))
        for place in places:
            out.append(place)
            libs = os.path.join(os.path.dirname(place), f"{name}.libs")
            if os.path.isdir(libs):
                out.append(libs)
    return out


def listed_only() -> list[str]:
    """Folders on ``sys.path`` outside the standard library: their listing, not their files."""
    std = tuple(d + os.sep for d in _stdlib_dirs())
    out = []
    for p in sys.path:
        real = os.path.realpath(p) if p else ""
        if real and os.path.isdir(real) and not (real + os.sep).startswith(std):
            out.append(real)
    for folder in _stdlib_dirs():
        out += [os.path.join(folder, e) for e in NOT_PACKAGES if os.path.isdir(os.path.join(folder, e))]
    return out


def ruleset_for(imports: tuple[str, ...], system_paths: list[str], root: str) -> int:
    """The Landlock layer for this allow-list (built once per list in this process); -1 where
    the kernel has no Landlock."""
    if imports not in _rulesets:
        full = [*system_paths, *stdlib_paths(), *package_paths(imports), root]
        _rulesets[imports] = hardening.read_ruleset(full, listed_only())
    return _rulesets[imports]
