"""Heavy modules are loaded into the template only for candidates that name them; any other
import still works from inside the hardened child."""

from __future__ import annotations

from sandbox import session
from sandbox.session import Limits, SandboxSession

LIMITS = Limits(call_seconds=20.0, wall_seconds=30, load_seconds=20, memory_mb=1024)
# the module name is assembled at run time, so the source never names it
PROBE = "import sys\nNAME = 'num' + 'py'\ndef f():\n    return NAME in sys.modules\n"


def test_numpy_is_loaded_only_for_candidates_that_name_it(level):
    session.reset()  # a fresh template: nothing on demand loaded yet
    with SandboxSession(PROBE, LIMITS) as box:
        assert box.call("f") is False  # a lean template: the fork did not carry numpy
    with SandboxSession("# blends by numpy's argsort\n" + PROBE, LIMITS) as box:
        assert box.call("f") is True  # loaded by the template before the fork, not by the child
    with SandboxSession(PROBE, LIMITS) as box:
        assert box.call("f") is True  # and kept for later candidates


def test_a_module_the_source_does_not_name_still_imports_inside_the_child(level):
    session.reset()
    code = ("import importlib\nnp = importlib.import_module('num' + 'py')\n"
            "def f(xs):\n    return int(np.argsort(np.array(xs))[0])\n")
    with SandboxSession(code, LIMITS) as box:
        assert box.call("f", [3, 1, 2]) == 1
