"""``evolve new-problem NAME``: start a problem from the template, under a new name.

Copies ``problems/_template`` to ``<problems folder>/NAME`` and ``evaluators/_template`` to
``evaluators/NAME``, replacing the placeholder ``_template`` (and the class name
``TemplateVerifier``) in every text file, then loads the new spec to check the copy. The copy is a
working toy problem; docs/adding-a-problem.md says what to change in each file.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from evaluators.problem import ProblemError, load_problem, problems_dir

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = "_template"
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
TEXT = (".py", ".toml", ".md")
PLACEHOLDER = re.compile(rf"(?<!\w){TEMPLATE}(?!\w)")  # not inside a longer name


@dataclass(frozen=True)
class Created:
    """The two folders a new problem starts with."""

    problem: Path
    verifier: Path


def new_problem(name: str, evaluators: Path = ROOT / "evaluators") -> Created:
    """Copy the template problem to the problems folder and its verifier to ``evaluators``
    (the package's folder; another one only in tests), both as ``name``; overwrites nothing."""
    if not NAME.match(name):
        raise ProblemError(f"problem name {name!r}: use lower-case letters, digits and _, starting "
                           "with a letter (it names a Python package under evaluators/)")
    made = Created(problems_dir() / name, evaluators / name)
    for path in (made.problem, made.verifier):
        if path.exists():
            raise ProblemError(f"{path} exists already: choose another name or remove it")
    camel = "".join(part.capitalize() for part in name.split("_"))
    _copy(ROOT / "problems" / TEMPLATE, made.problem, name, camel)
    _copy(ROOT / "evaluators" / TEMPLATE, made.verifier, name, camel)
    load_problem(name)
    return made


def _copy(src: Path, dst: Path, name: str, camel: str) -> None:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
    for path in dst.rglob("*"):
        if path.is_file() and path.suffix in TEXT:
            text = path.read_text(encoding="utf-8")
            text = PLACEHOLDER.sub(name, text.replace("TemplateVerifier", f"{camel}Verifier"))
            path.write_text(text, encoding="utf-8")
