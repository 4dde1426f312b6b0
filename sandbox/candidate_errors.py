"""What a candidate's failure says (runs inside the sandbox, in the candidate's child): the
exception and where in the candidate's code it happened, the values there, the candidate's own
frames, within fixed sizes; and, for a failed import, what the problem allows. Standard library
only.
"""

from __future__ import annotations

import collections
import itertools
import linecache
import reprlib
import traceback
import types

ERROR_CHARS = 2900  # a whole message; every later hop keeps 3,000 (room for "candidate failed to load: ")
HEAD_CHARS = 1000  # the exception and its location
VALUES_CHARS = 300  # the values line
VALUE_CHARS = 100  # one name=value
VALUE_NAMES = 12
_NOT_VALUES = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType, types.MethodType)
_SIZED = (list, tuple, dict, set, frozenset, collections.deque, str, bytes, bytearray)


class _ValueRepr(reprlib.Repr):
    """Short reprs: three items of a container, two levels deep, 40 characters of a string."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 2
        self.maxtuple = self.maxlist = self.maxarray = self.maxdict = 3
        self.maxset = self.maxfrozenset = self.maxdeque = 3
        self.maxstring = self.maxother = 40
        self.maxlong = 24

    # reprlib sorts a whole dict or set first: seconds for a million keys, so the candidate
    # would time out instead of showing its error; these take the first items as they come
    def _first(self, x: set | frozenset, level: int, left: str, right: str, limit: int) -> str:
        if level <= 0:
            return left + "..." + right
        pieces = [self.repr1(item, level - 1) for item in itertools.islice(x, limit)]
        return left + ", ".join(pieces + ["..."] * (len(x) > limit)) + right

    def repr_dict(self, x: dict, level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        pieces = [f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}"
                  for k, v in itertools.islice(x.items(), self.maxdict)]
        return "{" + ", ".join(pieces + ["..."] * (len(x) > self.maxdict)) + "}"

    def repr_set(self, x: set, level: int) -> str:
        return self._first(x, level, "{", "}", self.maxset) if x else "set()"

    def repr_frozenset(self, x: frozenset, level: int) -> str:
        return self._first(x, level, "frozenset({", "})", self.maxfrozenset) if x else "frozenset()"

    def repr_instance(self, x: object, level: int) -> str:
        # subclasses of the containers (defaultdict, Counter, OrderedDict, a list subclass) get
        # the bounded forms: their own repr would print every item, within the call's time limit
        for base, bounded in ((dict, self.repr_dict), (list, self.repr_list), (tuple, self.repr_tuple),
                              (set, self.repr_set), (frozenset, self.repr_frozenset)):
            if isinstance(x, base):
                return f"{type(x).__name__}({bounded(x, level)})"
        text = repr(x)  # unlike reprlib's, lets a failing __repr__ raise (shown as <unprintable>)
        if len(text) <= self.maxother:
            return text
        return text[:(self.maxother - 3) // 2] + "..." + text[len(text) - (self.maxother - 3 + 1) // 2:]


_REPR = _ValueRepr()


def _value_text(value: object) -> str:
    """A bounded one-line repr; containers longer than shown say their length (``list of 40: [3,
    0, 7, ...]``). May raise (a candidate's ``__repr__``, ``__len__``, ...): the caller catches."""
    kind = type(value)  # type() cannot be faked by the candidate, unlike __class__
    text = _REPR.repr(value)
    if issubclass(kind, _SIZED):
        size = len(value)
        if size > (_REPR.maxstring if issubclass(kind, (str, bytes, bytearray)) else 3):
            text = f"{kind.__name__} of {size}: {text}"
    elif kind.__name__ == "ndarray" and kind.__module__ == "numpy":
        text = f"ndarray {tuple(value.shape)}: {text}"
    text = "".join(c if c.isprintable() else " " for c in " ".join(text.split()))
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS - 3] + "..."


def _values_line(frame: types.FrameType) -> str:
    """``values: a=1, b=[3, 0, 7, ...]``: the arguments, then the other locals bound in ``frame``
    (no dunder names, modules, functions or classes); never raises."""
    try:
        code, bound = frame.f_code, frame.f_locals
        parts: list[str] = []
        for name in dict.fromkeys(code.co_varnames + code.co_cellvars):
            if not name.isidentifier() or name.startswith("__") or name not in bound:
                continue  # ".0" of a comprehension, or not bound yet
            if len(parts) == VALUE_NAMES:
                parts.append("...")
                break
            try:
                value = bound[name]
                if issubclass(type(value), _NOT_VALUES):
                    continue
                text = _value_text(value)
            except BaseException:  # a hostile __repr__, __len__, __getattr__ ...
                text = "<unprintable>"
            parts.append(f"{name}={text}")
        line = "values:"
        for k, part in enumerate(parts):
            piece = (" " if k == 0 else ", ") + part
            if len(line) + len(piece) > VALUES_CHARS - 5:
                return line + (" ..." if k == 0 else ", ...")
            line += piece
        return line if parts else ""
    except BaseException:
        return ""


def candidate_error(exc: BaseException, code_path: str) -> str:
    """The exception first (what an LLM must fix) with where it happened in the candidate's code,
    then the values of the arguments and locals there, then the candidate's own frames only:

        ZeroDivisionError: division by zero (line 5 in priority: return w_j / d_j)
        values: p_j=12, w_j=3, d_j=0, t=0
          File ".../candidate.py", line 5, in priority ...

    At most ERROR_CHARS; a long message loses the outer frames of its traceback, never its head."""
    te = traceback.TracebackException.from_exception(exc, limit=20)
    head = "".join(te.format_exception_only()).strip()
    inner, tb = None, exc.__traceback__
    while tb is not None:  # the innermost frame running the candidate's own code
        if tb.tb_frame.f_code.co_filename == code_path:
            inner = tb
        tb = tb.tb_next
    where, values = "", ""
    if inner is not None:
        lineno = inner.tb_lineno
        try:  # the candidate may have rewritten its own file
            line = linecache.getline(code_path, lineno) if lineno else ""
        except BaseException:
            line = ""
        where = f" (line {lineno} in {inner.tb_frame.f_code.co_name[:80]}: {line.strip()[:160]})"
        values = _values_line(inner.tb_frame)
    if len(head) + len(where) > HEAD_CHARS:  # a huge exception text: keep its start and the location
        head = head[:HEAD_CHARS - len(where) - 3] + "..."
    message = head + where + ("\n" + values if values else "")
    frames = [f for f in te.stack if f.filename == code_path]
    trace = "".join(traceback.StackSummary.from_list(frames).format()).rstrip() if frames else ""
    room = ERROR_CHARS - len(message) - 1
    if len(trace) > room:  # keep the innermost frames, from a line start
        tail = trace[len(trace) - room + 6:]
        trace = "  ...\n" + tail[tail.find("\n") + 1:] if "\n" in tail else ""
    return message + ("\n" + trace if trace else "")


def import_hint(exc: BaseException, imports: list[str]) -> str:
    """What an import that failed could not have done here (the candidate reads no other package)."""
    if not isinstance(exc, (ImportError, PermissionError)):
        return ""
    allowed = "the standard library" + "".join(f", {name}" for name in sorted(imports))
    return f"\n(this problem's candidates can import {allowed} and nothing else)"
