"""Length-framed JSON: the only wire format between worker, template and candidate.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON. Parsing is
strict: NaN/Infinity are rejected, sizes are bounded, a short read is an error. This module is
imported by the worker (``sandbox.protocol``) and, inside the sandbox, by the harness (``protocol``),
so it uses the standard library only.
"""

from __future__ import annotations

import json
import math
import os
import select
import struct
import time
from typing import Any

HEADER = struct.Struct(">I")


class FrameError(Exception):
    """The peer broke the protocol: ``kind`` is eof, timeout, oversize or protocol."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not allowed")


def _plain(obj: Any) -> Any:
    """numpy arrays and scalars become lists and numbers (``tolist``); anything else is refused."""
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def encode(obj: Any) -> bytes:
    data = json.dumps(obj, allow_nan=False, separators=(",", ":"), default=_plain).encode("utf-8")
    return HEADER.pack(len(data)) + data


def unsendable(name: str, exc: BaseException) -> str:
    """Why a returned value cannot cross the boundary, said as a fix (json's own words name no
    function: 'Out of range float values are not JSON compliant')."""
    if isinstance(exc, ValueError) and "Out of range float" in str(exc):
        return f"{name}() returned nan or inf; return finite numbers"
    if isinstance(exc, RecursionError) or "Circular reference" in str(exc):
        return f"{name}() returned a structure that contains itself"
    return (f"{name}() returned a value that is not plain data "
            f"({type(exc).__name__}: {str(exc)[:200]}); return numbers, strings, lists and dicts")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} overflows to {value}")
    return value


def decode(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant,
                          parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FrameError("protocol", f"not strict JSON: {exc}") from exc
    except RecursionError as exc:
        raise FrameError("protocol", "JSON nested too deeply") from exc


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def write_frame(fd: int, obj: Any) -> None:
    write_all(fd, encode(obj))


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks = []
    left = n
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise FrameError("timeout", "no complete reply before the deadline")
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                continue
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise FrameError("eof", "peer closed the channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, deadline: float | None = None, max_bytes: int = 64 << 20) -> Any:
    """Read one frame; ``deadline`` is a time.monotonic() value or None to wait forever."""
    return read_sized(fd, deadline, max_bytes)[0]


def values_in(data: bytes) -> int:
    """An upper bound on the values a JSON text decodes to (one more than its separators and
    openings; separators inside strings count too), counted at C speed before decoding: what
    decoding will cost in memory is bounded by it (``[[],[],...]`` is 3 bytes a value)."""
    return data.count(b",") + data.count(b"[") + data.count(b"{") + 1


def read_sized(fd: int, deadline: float | None = None, max_bytes: int = 64 << 20,
               max_values: int | None = None) -> tuple[Any, int, int]:
    """Read one frame: (value, its size in bytes, ``values_in`` it). A frame over ``max_bytes``
    or ``max_values`` is refused before it is read or decoded."""
    (size,) = HEADER.unpack(_read_exact(fd, HEADER.size, deadline))
    if size > max_bytes:
        raise FrameError("oversize", f"reply of {size} bytes exceeds the limit of {max_bytes}")
    data = _read_exact(fd, size, deadline)
    values = values_in(data)
    if max_values is not None and values > max_values:
        raise FrameError("oversize", f"reply of about {values} values exceeds the limit of "
                         f"{max_values}")
    return decode(data), size, values
