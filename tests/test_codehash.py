"""Program identities: exact hash and the normalised form used to catch duplicates."""

from __future__ import annotations

from evolve.archive.codehash import code_hash, normalised_code, normalised_hash

BASE = "def priority(p_j, w_j, d_j, t):\n    return max(p_j, d_j - t) / w_j\n"


def test_comments_docstrings_and_layout_do_not_make_a_new_program():
    variants = [
        '"""Module doc."""\n' + BASE,
        "def priority(p_j, w_j, d_j, t):\n    '''Weighted MDD.'''\n    # the rule\n"
        "    return (max(p_j, (d_j - t)) / w_j)   # done\n",
        "def priority(p_j,w_j,d_j,t):\n\n    return max( p_j , d_j-t )/w_j\n",
        "def priority(p_j, w_j, d_j, t):\n    'a stray string statement'\n"
        "    return max(p_j, d_j - t) / w_j\n",
    ]
    for v in variants:
        assert normalised_hash(v) == normalised_hash(BASE), v
        assert code_hash(v) != code_hash(BASE)


def test_different_logic_is_a_different_program():
    for other in (BASE.replace("/ w_j", "* w_j"), BASE.replace("max", "min"),
                  BASE.replace("d_j - t", "t - d_j"), BASE.replace("p_j, w_j", "p_j, w_k")):
        assert normalised_hash(other) != normalised_hash(BASE), other
    # a string that is a value (not a docstring) is part of the program
    assert normalised_hash('def f():\n    return "a"\n') != normalised_hash('def f():\n    return "b"\n')


def test_a_function_left_empty_by_removing_its_docstring_still_prints():
    assert normalised_code('def f():\n    """only a docstring"""\n') == "def f():\n    pass"


def test_code_that_does_not_parse_is_its_own_text():
    broken = "def f(:\n    return 1\n"
    assert normalised_code(broken) == broken


def test_annotations_are_not_part_of_the_program():
    annotated = ("def priority(p_j: int, w_j: int, d_j: int, t: int) -> float:\n"
                 "    best: float = max(p_j, d_j - t)\n    seen: int\n    return best / w_j\n")
    plain = "def priority(p_j, w_j, d_j, t):\n    best = max(p_j, d_j - t)\n    return best / w_j\n"
    assert normalised_hash(annotated) == normalised_hash(plain)


def test_the_order_of_top_level_functions_is_not_part_of_the_program():
    a = "K = 2\n\n\ndef slack(d, t):\n    return d - t\n\n\ndef rule(d, t):\n    return slack(d, t) / K\n"
    b = "K = 2\n\n\ndef rule(d, t):\n    return slack(d, t) / K\n\n\ndef slack(d, t):\n    return d - t\n"
    assert normalised_hash(a) == normalised_hash(b)
    # a redefinition keeps its place after the first definition: the later one is the function
    first_wins = "def f():\n    return 1\n\n\ndef f():\n    return 2\n"
    second_wins = "def f():\n    return 2\n\n\ndef f():\n    return 1\n"
    assert normalised_hash(first_wins) != normalised_hash(second_wins)
    # statements keep their order among themselves
    assert normalised_hash("x = 1\ny = x\n") != normalised_hash("y = x\nx = 1\n")
