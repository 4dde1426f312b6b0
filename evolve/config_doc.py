"""The run-config reference (``docs/configuration.md``), rendered from the pydantic models so that
it cannot drift from what the loader accepts: every section and key with its type, default and
description. ``python -m evolve.config_doc`` rewrites the file; a test checks it is current."""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from evolve.config import RunConfig, section_model

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"

HEADER = """# Run configuration

`evolve run PROBLEM --config run.yaml` reads a YAML mapping of the sections below; every key is
optional and defaults as shown. An unknown or invalid key stops the run before it starts, with the
file, line, key and fix on one line. CLI options (`--iterations`, `--model`, `--from`, ...) override
the file. Generated from `evolve/config.py` by `python -m evolve.config_doc`.

```yaml
seed: 1
stop: {iterations: 100}
llm:
  models:
    - {name: openai/gpt-4o-mini, temperature: 0.8}
search: {islands: 4}
```
"""


def _type(annotation: object) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    return text or str(annotation).replace("typing.", "").replace("evolve.config.", "")


def _default(field) -> str:
    if field.default is PydanticUndefined:
        return "required"
    value = field.default
    if isinstance(value, BaseModel):
        return "section below"
    return f"`{value!r}`" if value is not None else "none"


def _table(model: type[BaseModel]) -> list[str]:
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        section = section_model(field)
        about = (field.description or (section.__doc__ if section else "") or "").replace("|", "\\|")
        rows.append(f"| `{name}` | {_type(field.annotation)} | {_default(field)} | {about} |")
    return rows


def _sections(model: type[BaseModel], path: str) -> list[tuple[str, type[BaseModel]]]:
    found = [(path, model)]
    for name, field in model.model_fields.items():
        if (section := section_model(field)) is not None:
            sub = f"{path}.{name}" if path else name
            found += _sections(section, sub + ("[]" if section is not field.annotation else ""))
    return found


def render() -> str:
    parts = [HEADER]
    for path, model in _sections(RunConfig, ""):
        parts.append(f"## {path or 'top level'}\n\n{model.__doc__}\n")
        parts.append("\n".join(_table(model)) + "\n")
    return "\n".join(parts)


def main() -> int:
    DOC.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
