"""Counted nouns for what people read: ``plural(1, "child", "children")`` is "1 child"."""

from __future__ import annotations


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"
