"""prefix_reuse_ordering: the cache arithmetic on a hand-made 3-row table, the reply check, the
tables and their draws, the README's baseline figures, the reward hacks of the reply (a dropped or
duplicated row or column, strings, a claimed score, wrong types), tampering with the inputs, the
red team's cheats (reading the tables or the verifier, state kept between evaluations, rewriting
replies already returned, an oracle rebuilt from the public seeds against a run's draw), and a
scripted run."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from evaluators.base import InvalidOutput
from evaluators.draws import new_draw
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
from evaluators.prefix_reuse_ordering.tables import GATE, load_source
from evaluators.prefix_reuse_ordering.verifier import score
from evaluators.problem import load_problem
from evolve.llm.stub_server import Step

from .conftest import ROOT, query, run_cli
from .red_team import STATE_PROBE, spy_code

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


# --- red team: the data files, state, module memory and the draws -------------------------------

DATA = ROOT / "problems" / PROBLEM / "data"
EVALUATORS = ROOT / "evaluators" / PROBLEM
BASELINES = SPEC.baselines()


def figures(m: dict) -> tuple:
    """The README's rounding: hit_rate, worst_hit_rate, pooled_hit_rate (percent)."""
    return tuple(round(100 * m[k], 2) for k in ("hit_rate", "worst_hit_rate", "pooled_hit_rate"))


def renamed(code: str, name: str) -> str:
    """A seed or baseline whose entry is called ``name`` (a cheat wraps it)."""
    return code.replace("def reorder_table(", f"def {name}(")


def policy(code: str):
    ns: dict = {}
    exec(code, ns)  # trusted baselines, in the test process only
    return ns["reorder_table"]


def same_metrics(a: dict, b: dict) -> bool:
    """Equal metrics but for the candidate's CPU time."""
    return {**a, "cpu_seconds": 0} == {**b, "cpu_seconds": 0}


def test_reading_the_tables_or_the_verifier_is_impossible():
    """The candidate tries every data file (the held-out tables whole: airports, stocks,
    penguins_raw) and every verifier file, by absolute and relative path, an import of the table
    loader, /proc of its parent, and the verifier's tables in its own memory; it plays the
    cardinality baseline only if all of that came back empty."""
    files = sorted(DATA.glob("*")) + sorted(EVALUATORS.glob("*.py"))
    paths = [str(f) for f in files] + [str(f.relative_to(ROOT)) for f in files]
    modules = (f"evaluators.{PROBLEM}.tables", f"evaluators.{PROBLEM}.model")
    spy = spy_code(paths, [str(DATA), str(EVALUATORS)], modules, ("Table", "Ordering", "Reuse"), str(ROOT))
    here: dict = {}
    verifier_for(PROBLEM).instances("test")  # the verifier's tables are in this process
    exec(spy, here)  # in the verifier's own process the same code reads every table at once ...
    assert {str(f) for f in files} <= set(here["LEAK"]) and len(files) >= 8 + 5
    assert f"evaluators.{PROBLEM}.tables" in here["LEAK"] and here["verifier_objects"]()
    cheat = spy + renamed(BASELINES["cardinality"], "_honest") + '''

def reorder_table(columns, rows):
    if LEAK or verifier_objects():
        raise RuntimeError(f"LEAKED {LEAK[:3]} {verifier_objects()[:3]}")
    return _honest(columns, rows)
'''
    out = job(cheat, "test")  # ... in the sandbox it finds nothing and plays the cardinality baseline
    assert out["ok"], out["error"]
    assert figures(out["metrics"]) == README["cardinality"]["test"]



def test_state_does_not_survive_between_evaluations():
    v = verifier_for(PROBLEM)
    most = len(v.instances("gate")) + max(len(v.instances("train")), len(v.instances("test")))
    assert most == 3 + 4  # one evaluation's calls at most: a count beyond it is an earlier one's
    code = STATE_PROBE + renamed(BASELINES["cardinality"], "_honest") + f'''

def reorder_table(columns, rows):
    CALLS[0] += 1
    if CALLS[0] > {most}:
        raise RuntimeError(f"call {{CALLS[0]}}: the module state of an earlier evaluation")
    return _honest(columns, rows)
'''
    first, second = job(code, "train"), job(code, "test")
    assert first["ok"] and second["ok"], (first["error"], second["error"])
    assert figures(first["metrics"]) == README["cardinality"]["train"]
    assert figures(second["metrics"]) == README["cardinality"]["test"]


MEMORY = '''
SHOWN = []  # every table shown so far (its arguments) and the reply object returned for it


def reorder_table(columns, rows):
    args = [columns, rows]
    for earlier, reply in SHOWN:
        reply[:] = _better(*earlier)  # a better answer written into a reply already returned
        if earlier == args:
            return reply  # the same table again: replay the better answer
    reply = _seed(*args)
    SHOWN.append((args, reply))
    return reply
'''


def test_module_memory_across_calls_changes_no_reply_already_scored():
    """One evaluation is a batch of calls in one warm process (the gate's 3 tables, then the
    set's). The candidate keeps every table and reply, rewrites its earlier replies with the
    cardinality baseline's orderings once it has moved on, and would replay them on a repeated
    table. Each reply is encoded when returned and its prompts are serialised from the verifier's
    own copy of its table: the score is exactly the seed's (the same replies read after the
    rewrites score 35.96%, not 16.82%). No table repeats within an evaluation, so a replay table
    has nothing to hit; a table reveals nothing beyond its own rows and no score comes back during
    an evaluation, so there is nothing else to learn."""
    v = verifier_for(PROBLEM)
    for set_name in ("train", "test"):
        shown = [json.dumps(v.arguments(t)) for t in v.instances("gate") + v.instances(set_name)]
        assert len(set(shown)) == len(shown), set_name
    code = renamed(SPEC.initial_code, "_seed") + renamed(BASELINES["cardinality"], "_better") + MEMORY
    out = job(code, "train")
    assert out["ok"], out["error"]
    assert figures(out["metrics"]) == README["initial"]["train"] != README["cardinality"]["train"]


def digest(verifier, set_name: str) -> list[str]:
    """What the candidate is shown of each table: its call's arguments."""
    return [json.dumps(verifier.arguments(t)) for t in verifier.instances(set_name)]


def test_train_and_test_differ_per_draw_and_the_gate_does_not():
    public, one, other = (verifier_for(PROBLEM, d) for d in (None, 2 ** 41 + 5, 2 ** 41 + 6))
    for set_name in ("train", "test"):
        base, a, b = (digest(v, set_name) for v in (public, one, other))
        assert len(a) == len(b) == len(base) and not set(a) & set(base) and not set(b) & (set(a) | set(base))
        for x, y in ((base, a), (a, b)):  # every table is another row subset of the same real table
            for tx, ty in zip(x, y):
                (cx, rx), (cy, ry) = json.loads(tx), json.loads(ty)
                assert cx == cy and len(rx) == len(ry) and rx != ry
    for v in (public, one, other):
        assert not set(digest(v, "train")) & set(digest(v, "test"))
    assert digest(one, "gate") == digest(other, "gate") == digest(public, "gate")
    # a draw is reproducible (generated again, past the cache)
    again = load_source.__wrapped__(DATA, "table=airports rows=200 seed=2001", 2 ** 41 + 5)
    assert [json.dumps(t.as_json()) for t in again] == digest(one, "test")[1:2]


def answer_key(args) -> str:
    return hashlib.sha256(json.dumps(list(args)).encode()).hexdigest()


def oracle() -> str:
    """A cheat that rebuilt the public test tables (the tables are public, so are the seeds and
    the sampling code) and answers from a table made offline: per table, whichever of the
    cardinality and GGR orderings the verifier's own cache model scores higher; any other table
    gets the seed's answer."""
    table = {}
    for t in verifier_for(PROBLEM).instances("test"):
        answers = [policy(BASELINES[name])(*t.as_json()) for name in ("cardinality", "ggr")]
        table[answer_key(t.as_json())] = max(answers, key=lambda a: reuse(t, check_reply(a, t)).rate)
    assert len(table) == 3
    return renamed(SPEC.initial_code, "_seed") + f'''
import hashlib, json
ANSWERS = {table!r}


def reorder_table(*args):
    answer = ANSWERS.get(hashlib.sha256(json.dumps(list(args)).encode()).hexdigest())
    return _seed(*args) if answer is None else answer
'''


def test_an_oracle_rebuilt_from_the_public_seed_fails_on_a_run_draw():
    cheat = oracle()
    public = job(cheat, "test")
    assert public["ok"], public["error"]
    # on the README's draw it plays the better baseline per table (cardinality on all three) ...
    assert figures(public["metrics"]) == README["cardinality"]["test"]
    assert figures(public["metrics"])[0] > 2 * README["initial"]["test"][0]
    draw = new_draw()
    drawn, honest = job(cheat, "test", draw), job(SPEC.initial_code, "test", draw)
    assert drawn["ok"] and honest["ok"], (drawn["error"], honest["error"])
    # ... on a run's draw no table is in its table: it is the seed, to the last digit
    assert same_metrics(drawn["metrics"], honest["metrics"])
    assert drawn["metrics"]["hit_rate"] < public["metrics"]["hit_rate"] / 1.5


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
