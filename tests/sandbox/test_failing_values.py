"""A candidate's failure names the values that triggered it, bounded, whatever those values are."""

from __future__ import annotations

from evaluators.jobs import run_job, verifier_for
from sandbox import candidate_errors
from sandbox.session import CandidateError, Limits, SandboxSession

LIMITS = Limits(call_seconds=3, wall_seconds=10, load_seconds=5, cpu_seconds=12, memory_mb=768)


def error(code: str, *args) -> str:
    """The message of f(*args)'s exception, run in a real sandboxed candidate."""
    try:
        with SandboxSession(code, LIMITS) as box:
            box.call("f", *args)
    except CandidateError as exc:
        assert exc.kind == "exception", exc.message
        return exc.message
    raise AssertionError("f did not fail")


def test_the_arguments_that_divide_by_zero(level):
    msg = error("def f(p_j, w_j, d_j, t):\n    ratio = w_j / p_j\n    return ratio + w_j / d_j\n",
                12, 3, 0, 0)
    lines = msg.splitlines()
    assert lines[0] == "ZeroDivisionError: division by zero (line 3 in f: return ratio + w_j / d_j)"
    assert lines[1] == "values: p_j=12, w_j=3, d_j=0, t=0, ratio=0.25"  # arguments first, then locals
    assert "line 3, in f" in msg  # the candidate's traceback still follows


def test_the_innermost_candidate_frame_is_shown(level):
    code = ("import math\n"
            "def score(x, scale):\n    return math.log(x) * scale\n"
            "def f(xs):\n    helper = score\n    return sorted(xs, key=lambda x: score(x, 2))\n")
    msg = error(code, [3, 0, 7])
    assert msg.startswith("ValueError: math domain error (line 3 in score: return math.log(x) * scale)")
    assert msg.splitlines()[1] == "values: x=0, scale=2"  # not math (a module), not the caller's locals


def test_a_hostile_repr_does_not_stop_the_message(level):
    code = ("class Evil:\n    def __repr__(self):\n        raise RuntimeError('no repr for you')\n"
            "class Junk:\n    def __repr__(self):\n        return 'line\\nbreak\\x00' * 10000\n"
            "class Liar(list):\n    def __len__(self):\n        raise RuntimeError('no len')\n"
            "def f(d):\n    evil, junk, liar = Evil(), Junk(), Liar([1])\n    return 1 / d\n")
    msg = error(code, 0)
    first, values = msg.splitlines()[:2]
    assert first.startswith("ZeroDivisionError: division by zero (line 12 in f:")
    assert values.startswith("values: d=0, evil=<unprintable>, junk=line break")
    assert values.endswith("liar=<unprintable>") and len(values) <= 300


def test_a_huge_list_is_shown_bounded(level):
    code = ("def f(n):\n    big = list(range(n))\n    table = {i: [i] * 50 for i in range(1000)}\n"
            "    return big[n]\n")
    msg = error(code, 1_000_000)
    assert msg.startswith("IndexError: list index out of range (line 4 in f: return big[n])")
    assert msg.splitlines()[1] == ("values: n=1000000, big=list of 1000000: [0, 1, 2, ...], "
                                   "table=dict of 1000: {0: [0, 0, 0, ...], 1: [1, 1, 1, ...], "
                                   "2: [2, 2, 2, ...], ...}")
    assert len(msg) <= 3000


def test_container_subclasses_are_shown_bounded(level):
    """defaultdict, Counter and list subclasses get the bounded forms, not their own full repr."""
    code = ("import collections\n"
            "class Jobs(list):\n    pass\n"
            "def f(n):\n    seen = collections.defaultdict(list)\n"
            "    for i in range(n):\n        seen[i].append(i)\n"
            "    jobs = Jobs(range(n))\n    return 1 / (n - n)\n")
    values = error(code, 200_000).splitlines()[1]
    assert values == ("values: n=200000, seen=defaultdict of 200000: defaultdict({0: [0], 1: [1], "
                      "2: [2], ...}), i=199999, jobs=Jobs of 200000: Jobs([0, 1, 2, ...])")


def test_many_locals_and_long_strings_stay_within_the_line(level):
    names = [f"v{k}" for k in range(30)]
    body = "".join(f"    {n} = 'x' * {1000 + k}\n" for k, n in enumerate(names))
    msg = error(f"def f(a):\n{body}    return a[0]\n", [])
    values = msg.splitlines()[1]
    assert values.startswith("values: a=[], v0=str of 1000: 'xxxxxx")
    assert values.endswith(", ...") and len(values) <= 300


def test_values_survive_a_long_message(level):
    # a huge exception text and a deep candidate stack: the head and the values line are kept,
    # the traceback loses its outer frames
    code = ("def f(n, depth):\n    if depth:\n        return f(n, depth - 1)\n"
            "    raise ValueError('bad ' * 5000 + str(n))\n")
    msg = error(code, 7, 200)
    lines = msg.splitlines()
    assert lines[0].startswith("ValueError: bad bad") and len(lines[0]) <= 1000
    assert lines[0].endswith("... (line 4 in f: raise ValueError('bad ' * 5000 + str(n)))")
    assert lines[1] == "values: n=7, depth=0"
    assert len(msg) <= 3000


def test_load_failures_have_no_values(level):
    try:
        with SandboxSession("x = 1\ny = x / 0\n", LIMITS):
            pass
    except CandidateError as exc:
        assert exc.kind == "load" and "ZeroDivisionError" in exc.message and "line 2" in exc.message
        assert "values:" not in exc.message  # module level: no arguments or locals
    else:
        raise AssertionError("the load did not fail")


def test_values_line_unit():
    # in-process: what the sandbox tests cannot easily reach
    def frame_of(fn, *args):
        try:
            fn(*args)
        except Exception as exc:
            tb = exc.__traceback__
            while tb.tb_next:
                tb = tb.tb_next
            return tb.tb_frame
        raise AssertionError

    import numpy as np

    def fails(arr, s, fn, mod=np, cls=int):
        nothing = None
        return arr, nothing, 1 / s

    values = candidate_errors._values_line(frame_of(fails, np.zeros((300, 4)), 0, len))
    assert values.startswith("values: arr=ndarray (300, 4): ") and values.endswith(", s=0, nothing=None")
    assert "fn=" not in values and "mod=" not in values and "cls=" not in values
    assert candidate_errors._value_text({1, 2, 3, 4, 5}) == "set of 5: {1, 2, 3, ...}"
    assert candidate_errors._value_text("a\nb") == "'a\\nb'"


def test_smtt_verifier_shows_the_zero_due_date():
    code = verifier_for("smtt").spec.initial_code.replace("    return d_j\n", "    return w_j / d_j\n")
    assert "return w_j / d_j" in code
    out = run_job({"problem": "smtt", "code": code, "set": "train"})
    assert not out["ok"] and out["error_kind"] == "exception"
    first, values = out["error"].splitlines()[:2]
    # the quick check holds two wt40 instances with d = 0 jobs: the unguarded division fails there
    assert first.startswith("quick check on wt40#21")
    assert "ZeroDivisionError" in first and "w_j / d_j" in first
    assert values.startswith("values: p_j=") and "d_j=0" in values
