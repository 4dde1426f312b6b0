"""prefix_reuse_ordering: the cache arithmetic on a hand-made 3-row table, the reply check, the
tables and their draws, the README's baseline figures, the reward hacks of the reply (a dropped or
duplicated row or column, strings, a claimed score, wrong types), tampering with the inputs, and a
scripted run."""

from __future__ import annotations

import re

import pytest

from evaluators.base import InvalidOutput
from evaluators.jobs import run_job, verifier_for
from evaluators.prefix_reuse_ordering.model import (
    Ordering,
    Reuse,
    Table,
    check_reply,
    common_prefix,
    original,
    reuse,
    serialise,
)
from evaluators.prefix_reuse_ordering.tables import GATE
from evaluators.prefix_reuse_ordering.verifier import score
from evaluators.problem import load_problem
from evolve.llm.stub_server import Step

from .conftest import query, run_cli

PROBLEM = "prefix_reuse_ordering"
SPEC = load_problem(PROBLEM)
HAND = Table("hand", ("a", "b"), (("x", "1"), ("x", "2"), ("y", "1")))


# --- the cache model and the verifier's arithmetic ----------------------------------------------

def test_hit_rate_by_hand():
    assert serialise(HAND, 0, (0, 1)) == "a: x\nb: 1\n" and serialise(HAND, 2, (1, 0)) == "b: 1\na: y\n"
    assert common_prefix("a: x\nb: 1\n", "a: x\nb: 2\n") == 8 and common_prefix("", "abc") == 0
    # original order: "a: x\nb: 1\n" | "a: x\nb: 2\n" shares "a: x\nb: " (8) | "a: y\nb: 1\n" shares "a: " (3)
    assert reuse(HAND, original(HAND)) == Reuse(11, 30)
    # rows 0 and 2 with b first share "b: 1\na: " (8); row 1 after them shares nothing
    assert reuse(HAND, Ordering((0, 2, 1), ((1, 0), (1, 0), (0, 1)))) == Reuse(8, 30)
    # rows 1, 0 share 8; row 2 with b first after "a: x\nb: 1\n" shares nothing (only the previous prompt)
    assert reuse(HAND, Ordering((1, 0, 2), ((0, 1), (0, 1), (1, 0)))) == Reuse(8, 30)
    metrics, feedback = score([HAND, HAND], [Reuse(11, 30), Reuse(0, 30)])
    assert metrics["hit_rate"] == pytest.approx(11 / 60) and metrics["worst_hit_rate"] == 0
    assert metrics["pooled_hit_rate"] == pytest.approx(11 / 60) and metrics["instances"] == 2
    assert "hand, 2 columns: 36.67% (36.67%)" in feedback and "hand, 2 columns: 0.00% (36.67%)" in feedback


@pytest.mark.parametrize("reply, why", [
    ([[0, [0, 1]], [1, [0, 1]]], "returned 2 entries for 3 rows"),  # a dropped row
    ([[0, [0, 1]], [1, [0, 1]], [0, [0, 1]]], "row 0 appears more than once"),  # a duplicated row
    ([[0, [0, 1]], [1, [0]], [2, [0, 1]]], "the column order of entry 1 (row 1): "),  # a dropped column
    ([[0, [0, 1]], [1, [0, 0]], [2, [0, 1]]], "column 0 appears more than once"),
    ([[0, [0, 1]], [1, [0, 1, 1]], [2, [0, 1]]], "returned 3 entries, expected all 2"),
    ([[0.0, [0, 1]], [1, [0, 1]], [2, [0, 1]]], "entry 0 is float"),
    ([[0, [0, 1]], [True, [0, 1]], [2, [0, 1]]], "entry 1 is bool"),
    ([[0, [0, 1]], [1, [False, 1]], [2, [0, 1]]], "entry 0 is bool"),
    ([[0, [0, 1]], [1, [0, 2]], [2, [0, 1]]], "is 2, outside 0..1"),
    ([[0, [0, 1]], [3, [0, 1]], [2, [0, 1]]], "is 3, outside 0..2"),
    ([[0, ["a", "b"]], [1, [0, 1]], [2, [0, 1]]], "is str"),
    ([[0, [0, 1], 1.0], [1, [0, 1]], [2, [0, 1]]], "expected [row index, list of column indices]"),
    (["a: x\nb: 1\n", "a: x\nb: 2\n", "a: y\nb: 1\n"], "entry 0 is str"),
    ({"order": [], "hit_rate": 1.0}, "got dict"), (1.0, "got float"),
])
def test_check_reply_rejects(reply, why):
    with pytest.raises(InvalidOutput, match=re.escape(why)):
        check_reply(reply, HAND)


def test_check_reply_accepts_a_per_row_column_order():
    got = check_reply([[2, [1, 0]], [0, [0, 1]], [1, [1, 0]]], HAND)
    assert got == Ordering((2, 0, 1), ((1, 0), (0, 1), (1, 0)))


# --- the tables and their draws -----------------------------------------------------------------

def test_tables_are_real_distinct_and_drawn():
    v, drawn = verifier_for(PROBLEM), verifier_for(PROBLEM, 2 ** 45 + 3)
    train, test = v.instances("train"), v.instances("test")
    assert [t.name for t in train] == ["penguins (200 rows)", "cars (200 rows)", "seattle_weather (200 rows)",
                                       "barley (100 rows)"]
    assert len(test) == 3 and not {t.columns for t in train} & {t.columns for t in test}
    assert all(isinstance(x, str) for t in train + test for r in t.rows for x in r)
    assert [t.rows for t in drawn.instances("train")] != [t.rows for t in train]
    assert [t.columns for t in drawn.instances("train")] == [t.columns for t in train]
    assert v.instances("gate") == list(GATE) == drawn.instances("gate")
    brief = SPEC.brief.lower()  # the brief names no held-out table
    assert not any(name in brief for name in ("airport", "stock", "penguins_raw", "raw"))


# --- the baselines: the README's figures --------------------------------------------------------

def job(code: str, set_name: str = "gate", draw: int | None = None) -> dict:
    return run_job({"problem": PROBLEM, "code": code, "set": set_name, "draw": draw})


README = {  # hit_rate, worst_hit_rate, pooled_hit_rate (percent): problems/prefix_reuse_ordering/README.md
    "initial": {"train": (16.82, 3.95, 17.31), "test": (19.37, 5.77, 10.98), "gate": (29.55, 9.27, 18.52)},
    "original_order": {"train": (16.82, 3.95, 17.31)},
    "cardinality": {"train": (47.32, 33.58, 44.25), "test": (42.89, 23.12, 43.01),
                    "gate": (47.32, 33.60, 39.43)},
    "ggr": {"train": (46.77, 32.99, 43.59), "test": (42.69, 22.85, 42.78), "gate": (48.71, 33.55, 40.74)},
}


@pytest.mark.parametrize("name", README)
def test_seed_and_baselines_reproduce_the_readme(name):
    code = SPEC.initial_code if name == "initial" else SPEC.baselines()[name]
    for set_name, figures in README[name].items():
        out = job(code, set_name)
        assert out["ok"], out["error"]
        m = out["metrics"]
        got = tuple(round(100 * m[k], 2) for k in ("hit_rate", "worst_hit_rate", "pooled_hit_rate"))
        assert got == figures, (name, set_name, got)


# --- reward hacks through the sandbox -----------------------------------------------------------

VALID = '''
def reorder_table(columns, rows):
    out = [[i, list(range(len(columns)))] for i in range(len(rows))]
    {body}
'''

HACKS = {
    "a dropped row": ("return out[:-1]", "returned 7 entries for 8 rows"),
    "an extra row": ("return out + [out[0]]", "returned 9 entries for 8 rows"),
    "a duplicated row": ("return out[:-1] + [out[0]]", "row 0 appears more than once"),
    "a dropped column": ("return [[i, o[:-1]] for i, o in out]",
                         "the column order of entry 0 (row 0): reorder_table()[0][1] returned 3 entries, "
                         "expected all 4"),
    "a duplicated column": ("return [[i, o[:-1] + [o[0]]] for i, o in out]",
                            "column 0 appears more than once"),
    "column names instead of indices": ("return [[i, [columns[c] for c in o]] for i, o in out]", "is str"),
    "the prompts themselves": ("return [''.join(f'{columns[c]}: {rows[i][c]}' for c in o) for i, o in out]",
                               "entry 0 is str"),
    "(ordering, claimed score)": ("return out, 1.0", "returned 2 entries for 8 rows"),
    "a claimed score in a dict": ("return {'order': out, 'hit_rate': 1.0}", "got dict"),
    "a claimed score per entry": ("return [[i, o, 1.0] for i, o in out]", "expected [row index, list of"),
    "a claimed score only": ("return 1.0", "got float"),
    "row indices only": ("return list(range(len(rows)))", "entry 0 is int 0; expected [row index"),
    "float row indices": ("return [[float(i), o] for i, o in out]", "entry 0 is float"),
    "bool row indices": ("return [[i == 1, o] for i, o in out]", "entry 0 is bool"),
    "bool column indices": ("return [[i, [c == 1 for c in o]] for i, o in out]", "entry 0 is bool"),
    "float column indices": ("return [[i, [float(c) for c in o]] for i, o in out]", "entry 0 is float"),
    "out-of-range row": ("return [[i + len(rows), o] for i, o in out]", "is 8, outside 0..7"),
    "out-of-range column": ("return [[i, [c + 1 for c in o]] for i, o in out]", "is 4, outside 0..3"),
    "negative row": ("return [[-1, out[0][1]]] + out[1:]", "is -1, outside 0..7"),
}


@pytest.mark.parametrize("name", HACKS)
def test_reward_hacks_are_rejected(name):
    body, why = HACKS[name]
    out = job(VALID.format(body=body))
    assert not out["ok"] and out["error_kind"] == "invalid", out
    assert out["error"].startswith("evaluation: invalid output on gate: orders: ") and why in out["error"], \
        out["error"]
    assert out["combined_score"] is None and out["metrics"] == {}


def test_numpy_indices_cross_and_tampering_with_the_inputs_gains_nothing():
    honest = job(VALID.format(body="return out"))
    assert honest["ok"] and round(100 * honest["metrics"]["hit_rate"], 2) == 29.55  # the seed's
    np_ints = job("import numpy as np\n" + VALID.format(
        body="return [[np.int64(i), [np.int64(c) for c in o]] for i, o in out]"))
    assert np_ints["ok"] and np_ints["metrics"]["hit_rate"] == honest["metrics"]["hit_rate"]
    # every value and name made identical in the candidate's copy: the verifier serialises its own
    tamper = VALID.format(body="for r in rows:\n        r[:] = ['x'] * len(r)\n"
                               "    columns[:] = ['x'] * len(columns)\n    return out")
    out = job(tamper)
    assert out["ok"] and out["metrics"]["hit_rate"] == honest["metrics"]["hit_rate"]


# --- a scripted run -----------------------------------------------------------------------------

CARDINALITY_DIFF = """Put the columns with the fewest distinct values first.
<<<<<<< SEARCH
    return float(col)
=======
    return float(len({r[col] for r in rows}))
>>>>>>> REPLACE
"""


@pytest.mark.slow
def test_evolve_run_scores_a_child(stub, tmp_path):
    stub.push(Step(content=CARDINALITY_DIFF))
    runs = tmp_path / "runs"
    config = tmp_path / "run.yaml"
    config.write_text("tuning:\n  enabled: false\n")
    res = run_cli("run", PROBLEM, "--api-base", stub.url, "--iterations", "2", "--no-report",
                  "--runs-dir", str(runs), "--run-name", "pro", "--config", str(config))
    assert res.returncode == 0, res.stderr + res.stdout
    db = runs / "pro" / "archive.db"
    rows = query(db, "select id, parent_id, status, combined_score from programs order by id")
    (draw,), = query(db, "select draw from runs")
    assert draw is not None and rows[0][2] == "ok" and 0 < rows[0][3] < 0.3  # the seed: original order
    child = rows[1]
    assert child[1] == 1 and child[2] == "ok" and child[3] > rows[0][3]  # cardinality first beats it
    prompt = str(stub.requests[0]["messages"])
    assert "Per table (original order of rows and columns in brackets)" in prompt
    assert "def reorder_table" in prompt
