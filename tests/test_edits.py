"""SEARCH/REPLACE parsing and applying, rewrites, EVOLVE-BLOCK enforcement, rejection reasons."""

from __future__ import annotations

import pytest

from evolve.edits import EditRejected, apply_block, apply_reply, enforce_block, parse_diff_blocks

PARENT = '''"""Seed."""
import math

# EVOLVE-BLOCK-START
def schedule(p, w, d):
    order = list(range(len(p)))
    order.sort(key=lambda j: d[j])
    return order
# EVOLVE-BLOCK-END

HELPER = 1
'''


def diff(search: str, replace: str, fence: bool = False) -> str:
    body = f"<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE"
    return f"Idea.\n```python\n{body}\n```\n" if fence else f"Idea.\n{body}\n"


def test_exact_diff_applies():
    reply = diff("    order.sort(key=lambda j: d[j])", "    order.sort(key=lambda j: (d[j], p[j]))")
    edit = apply_reply(reply, PARENT, "schedule")
    assert edit.kind == "diff" and edit.blocks == 1
    assert "(d[j], p[j])" in edit.code and "HELPER = 1" in edit.code


def test_fenced_diff_and_trailing_whitespace_tolerated():
    reply = diff("    order.sort(key=lambda j: d[j])   ", "    order.reverse()", fence=True)
    edit = apply_reply(reply, PARENT, "schedule")
    assert "order.reverse()" in edit.code
    assert "```" not in edit.code


def test_indentation_shift_is_reindented():
    reply = diff("order = list(range(len(p)))\norder.sort(key=lambda j: d[j])",
                 "order = sorted(range(len(p)), key=lambda j: w[j])")
    edit = apply_reply(reply, PARENT, "schedule")
    assert "    order = sorted(range(len(p)), key=lambda j: w[j])\n" in edit.code
    compile(edit.code, "child", "exec")


def test_multiple_blocks_apply_in_order():
    reply = (diff("    order = list(range(len(p)))", "    order = list(range(len(d)))")
             + diff("    return order", "    return order[:]"))
    assert len(parse_diff_blocks(reply)) == 2
    code = apply_reply(reply, PARENT, "schedule").code
    assert "range(len(d))" in code and "order[:]" in code


def test_no_match_is_rejected_with_reason():
    with pytest.raises(EditRejected, match="does not match"):
        apply_reply(diff("    order.sort(key=lambda j: -d[j])", "    pass"), PARENT, "schedule")


def test_ambiguous_match_is_rejected():
    code = ("# EVOLVE-BLOCK-START\ndef schedule(p, w, d):\n    x = 1\n    x = 1\n    return []\n"
            "# EVOLVE-BLOCK-END\n")
    with pytest.raises(EditRejected, match="several places"):
        apply_block(code, "    x = 1", "    x = 2")


def test_prose_without_code_is_rejected():
    with pytest.raises(EditRejected, match="neither SEARCH/REPLACE"):
        apply_reply("I would sort by weight instead.", PARENT, "schedule")


def test_malformed_markers_are_named():
    with pytest.raises(EditRejected, match="malformed SEARCH/REPLACE"):
        apply_reply("SEARCH\norder\nREPLACE\nx", PARENT, "schedule")


def test_rewrite_outside_block_is_restored():
    reply = ("New version:\n```python\nimport os\nos.system('x')\n# EVOLVE-BLOCK-START\n"
             "def schedule(p, w, d):\n    return list(range(len(p)))\n# EVOLVE-BLOCK-END\n"
             "HELPER = 2\n```")
    edit = apply_reply(reply, PARENT, "schedule")
    assert edit.kind == "rewrite"
    assert "os.system" not in edit.code and "HELPER = 1" in edit.code and "HELPER = 2" not in edit.code
    assert "return list(range(len(p)))" in edit.code


def test_diff_touching_code_outside_block_is_undone():
    edit = apply_reply(diff("HELPER = 1", "HELPER = 99") + diff("    return order", "    return order[::-1]"),
                       PARENT, "schedule")
    assert "HELPER = 1" in edit.code and "HELPER = 99" not in edit.code


def test_rewrite_without_markers_becomes_the_block():
    child = enforce_block(PARENT, "def schedule(p, w, d):\n    return []\n")
    assert child.startswith('"""Seed."""') and "return []" in child and "HELPER = 1" in child


def test_syntax_error_rejected():
    with pytest.raises(EditRejected, match="syntax error at line"):
        apply_reply(diff("    return order", "    return order("), PARENT, "schedule")


def test_missing_entry_rejected():
    with pytest.raises(EditRejected, match="entry function schedule"):
        apply_reply(diff("def schedule(p, w, d):", "def plan(p, w, d):"), PARENT, "schedule")


def test_unchanged_rejected():
    with pytest.raises(EditRejected, match="unchanged"):
        apply_reply(diff("    return order", "    return order"), PARENT, "schedule")


def test_too_long_rejected():
    with pytest.raises(EditRejected, match="over the limit"):
        apply_reply(diff("    return order", "    return order" + " " * 50 + "# pad" * 100), PARENT,
                    "schedule", max_chars=300)


def test_empty_reply_rejected():
    with pytest.raises(EditRejected, match="empty reply"):
        apply_reply("   ", PARENT, "schedule")


SEED_PROGRAM = ("import math\n\n# EVOLVE-BLOCK-START\ndef schedule(p, w, d):\n"
                "    return sorted(range(len(p)), key=lambda j: d[j])\n# EVOLVE-BLOCK-END\n")
NEW_FN = "def schedule(p, w, d):\n    return sorted(range(len(p)), key=lambda j: (d[j] - p[j], j))\n"


@pytest.mark.parametrize("reply", [
    f"Sure! Here is an improved version:\n```python\n{NEW_FN}```\nThis sorts by slack.",
    f"Here is a helper:\n```python\ndef helper(x):\n    return x\n\n\n\n\n```\nAnd the function:\n"
    f"```python\n{NEW_FN}```",  # the block that defines the entry wins over a larger one
    f"The idea: sort by slack.\n\n{NEW_FN}\nThis should reduce tardiness a lot.",  # no fences
    f"```python\n{NEW_FN}",  # reply cut off before the closing fence
], ids=["chatty", "several-blocks", "unfenced", "unterminated"])
def test_small_model_replies_yield_the_function(reply):
    from evolve.edits import apply_reply

    edit = apply_reply(reply, SEED_PROGRAM, "schedule")
    assert edit.kind == "rewrite"
    assert "(d[j] - p[j], j)" in edit.code and edit.code.startswith("import math\n")
    assert edit.code.rstrip().endswith("# EVOLVE-BLOCK-END")


def test_function_mode_merges_the_reply_into_the_block():
    from evaluators.problem import load_problem
    from evolve.edits import EditRejected, apply_reply

    seed = load_problem("smtt").initial_code
    only = "```python\nimport math\n\ndef priority(p, w, d, t):\n    return max(p, d - t) / w\n```"
    child = apply_reply(only, seed, "schedule", focus="priority")
    assert child.kind == "function"
    assert "return max(p, d - t) / w" in child.code and "return d_j\n" not in child.code
    assert "def schedule(" in child.code and child.code.count("def priority(") == 1
    assert child.code.index("import math") < child.code.index("def priority(")
    assert child.code.startswith('"""Seed policy') and child.code.rstrip().endswith("# EVOLVE-BLOCK-END")
    helper = ("```python\ndef slack(p, d, t):\n    return d - t - p\n\n\n"
              "def priority(p, w, d, t):\n    return max(0, slack(p, d, t)) / w\n```")
    merged = apply_reply(helper, seed, "schedule", focus="priority").code
    assert merged.index("def slack(") < merged.index("def schedule(")  # new helper before the entry
    namespace: dict = {}
    exec(compile(merged, "child", "exec"), namespace)
    assert sorted(namespace["schedule"]([3, 1, 2], [1, 1, 1], [9, 1, 5])) == [0, 1, 2]
    whole = "```python\ndef schedule(p, w, d):\n    return list(range(len(p)))\n```"
    replaced = apply_reply(whole, seed, "schedule", focus="priority").code
    assert "return list(range(len(p)))" in replaced and "def priority(" in replaced
    with pytest.raises(EditRejected, match="defines no function"):
        apply_reply("```python\nx = 1\n```", seed, "schedule", focus="priority")
    # "example usage" around the function (a bin_packing reply's call ran before the def, at load)
    usage = ("```python\nimport math\nK = 2.0\nscore = priority(1, 2, 3, 0)\nn: int = len([1])\n\n"
             "def priority(p, w, d, t):\n    return K * d - t\n\n\n"
             "# Example usage:\nitems = [3, 1]\nprint(priority(1, 1, 1, 0))\n"
             "for k in items:\n    priority(k, 1, 1, 0)\n"
             "if __name__ == '__main__':\n    schedule([1], [1], [1])\n"
             "best = schedule([1], [1], [1])\n```")
    merged = apply_reply(usage, seed, "schedule", focus="priority").code
    for kept in ("import math", "K = 2.0", "n: int = len([1])", "items = [3, 1]", "return K * d - t"):
        assert kept in merged, kept
    for dropped in ("score = priority", "print(", "for k in items", "__main__", "best = schedule"):
        assert dropped not in merged, dropped
    namespace = {}
    exec(compile(merged, "child", "exec"), namespace)  # loads: nothing runs before its definition


def test_verbatim_copies_are_the_children_a_copying_reply_would_make():
    from evaluators.problem import load_problem
    from evolve.archive.codehash import normalised_hash
    from evolve.edits import verbatim_copies

    seed = load_problem("smtt").initial_code
    rule = "```python\ndef priority(p_j, w_j, d_j, t):\n    return max(p_j, d_j - t) / w_j\n```"
    better = apply_reply(rule, seed, "schedule", focus="priority").code
    # a program that differs from the parent only in the asked function: either copy is that program
    copies = verbatim_copies(seed, better, "priority", "schedule")
    assert len(copies) == 2 and {normalised_hash(c) for c in copies} == {normalised_hash(better)}
    # a copy of the parent itself changes nothing: the parent is what it would give
    assert [normalised_hash(c) for c in verbatim_copies(seed, seed, "priority", "schedule")] == \
        [normalised_hash(seed)] * 2
    # another shape (helpers, a constant): the whole copy brings them in, the function alone does not
    helpers = "K = 2.0\n\n\ndef slack(p, d, t):\n    return d - t - p\n\n\ndef priority("
    other = seed.replace("def priority(", helpers, 1).replace(
        "return d_j\n", "return max(0, slack(p_j, d_j, t)) / K\n")
    whole, alone = verbatim_copies(seed, other, "priority", "schedule")
    assert normalised_hash(whole) == normalised_hash(other)
    assert "def slack(" not in alone and "slack(p_j, d_j, t)" in alone


def test_standard_modules_used_without_import_are_imported():
    from evaluators.problem import load_problem
    from evolve.edits import add_missing_imports, unbound_names

    seed = load_problem("smtt").initial_code
    reply = ("```python\ndef priority(p_j, w_j, d_j, t):\n"
             "    q = deque([math.log(1 + w_j)])\n"
             "    return heapq.nsmallest(1, [d_j - t])[0] / q[0] + log(p_j)\n```")
    child = apply_reply(reply, seed, "schedule", focus="priority").code
    block = child[child.index("# EVOLVE-BLOCK-START"):]
    assert block.index("from collections import deque") < block.index("def priority(")
    assert "import heapq\n" in block and "import math\n" in block and "from math import log\n" in block
    namespace: dict = {}
    exec(compile(child, "child", "exec"), namespace)
    assert namespace["schedule"]([3, 1, 2], [1, 1, 1], [9, 1, 5])
    # bound names, arguments, imports, builtins and unknown modules are left alone
    assert unbound_names("import math as m\ndef f(x):\n    y = m.sqrt(x)\n    return len([y]) + z\n") == {"z"}
    unknown = "def f():\n    return numpy.zeros(2)\n"
    assert add_missing_imports(unknown) == unknown
    # a package the problem allows (bin_packing's seed imports nothing; replies write np.argmax)
    uses_np = "def f(bins):\n    return np.argmax(bins) + numpy.zeros(1)[0]\n"
    assert add_missing_imports(uses_np, ("numpy",)).startswith("import numpy as np\nimport numpy\n")
    assert add_missing_imports(uses_np, ()) == uses_np  # not allowed: left for the error to say so
    bins_seed = load_problem("bin_packing").initial_code
    reply = "```python\ndef priority(item, bins):\n    return list(-np.abs(np.array(bins) - item))\n```"
    child = apply_reply(reply, bins_seed, "priority", focus="priority", packages=("numpy",)).code
    assert "import numpy as np\n" in child
    exec(compile(child, "child", "exec"), namespace := {})
    assert namespace["priority"](3.0, [5.0, 9.0]) == [-2.0, -6.0]
    # without block markers: after the docstring and __future__ imports
    plain = '"""Doc."""\nfrom __future__ import annotations\n\n\ndef f(x):\n    return math.floor(x)\n'
    fixed = add_missing_imports(plain)
    assert fixed.startswith('"""Doc."""\nfrom __future__ import annotations\nimport math\n')
    exec(compile(fixed, "f", "exec"), {})
