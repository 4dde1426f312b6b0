"""How long a function-rewrite reply may run and where it ends (compact prompts, issue 17).

A compact prompt asks for one function in one ```python block. The reply restates that function
with changes, so its useful length follows the function's: the cap is a multiple of the asked
function's size in the parent plus room for a new helper, never above the model's own cap. The
server stops at the block's closing fence when text follows it (an explanation nobody reads
costs as much per token as code); ``edits.extract_rewrite`` reads an unterminated fence.

A model that takes a begun reply (ChatML, ``prompt_format: chatml``) gets the opened block with
the function's signature and docstring as written in the parent: replies restated them every
time (about 75 of 200 reply tokens of the smtt seed's ``priority``, decoded at 10-14 tokens/s,
where the same text as prompt costs a third), and cannot now answer with another function.
It stops at the block's end or where it starts restating another function of the program
(those stay as they are).
"""

from __future__ import annotations

import ast

from evolve.llm.openai_compat import Shape
from evolve.llm.pace import CHARS_PER_TOKEN
from evolve.prompts.builder import functions

GROWTH = 2.0  # a rewrite may double the function
HELPER_TOKENS = 160  # and add a helper
FLOOR_TOKENS = 256
BLOCK_END = "\n```\n"  # the closing fence followed by more text; an opening fence has a language
FENCE = "\n```"  # inside a begun block, any fence closes it


def _function(code: str, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    return next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and n.name == name), None)


def function_source(code: str, name: str) -> str | None:
    """The source of top-level function ``name`` in ``code`` (None if absent or unparsable)."""
    node = _function(code, name)
    return ast.get_source_segment(code, node) if node is not None else None


def opening(code: str, name: str) -> str:
    """The lines of function ``name`` up to its body: decorators, signature, docstring ("" if
    absent, or if its body starts on the signature's line)."""
    node = _function(code, name)
    if node is None:
        return ""
    first, body = node.body[0], node.body
    has_doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
        and isinstance(first.value.value, str)
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    end = first.end_lineno if has_doc and len(body) > 1 else first.lineno - 1
    if end is None or end < node.lineno:
        return ""
    return "\n".join(code.splitlines()[start - 1:end]) + "\n"


def others(code: str, name: str) -> list[str]:
    """The other top-level functions of ``code`` (a begun reply stops if it restates one)."""
    return [f for f in functions(code) if f != name]


def reply_cap(code: str, focus: str, model_cap: int) -> int:
    """Reply tokens allowed for a rewrite of ``focus`` in ``code``."""
    source = function_source(code, focus)
    if source is None:
        return model_cap
    tokens = len(source) / CHARS_PER_TOKEN
    return min(model_cap, max(FLOOR_TOKENS, int(GROWTH * tokens) + HELPER_TOKENS))


def function_reply(code: str, focus: str, model_cap: int) -> Shape:
    """The request shape of a compact prompt asking for ``focus`` of ``code``."""
    begun = opening(code, focus)
    return Shape(max_tokens=reply_cap(code, focus, model_cap), stop=(BLOCK_END,),
                 prefill="```python\n" + begun if begun else "",
                 prefill_stop=(FENCE, *(f"\ndef {o}(" for o in others(code, focus))))
