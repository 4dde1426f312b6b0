"""A function-rewrite request asks for no more reply than the function needs and ends at the
code block's closing fence (issue 17): checked on the cap's arithmetic and end to end through
`evolve run` against a real HTTP chat server that honours ``stop`` like llama.cpp's."""

from __future__ import annotations

import json

import pytest

from evolve.llm.stub_server import Step, StubLLM, cut_at_stop
from evolve.prompts.reply_shape import BLOCK_END, function_reply, opening, reply_cap

from .conftest import query, run_cli, write_config
from .test_evolution_quality import FIXTURES, compact_config, env, rule

SMALL = (FIXTURES / "problems" / "smtt_small" / "initial.py").read_text()


def test_the_cap_follows_the_asked_function_within_the_models_cap():
    tiny = "def f(x):\n    return x\n"
    assert reply_cap(tiny, "f", 600) == 256  # the floor: room for a real rewrite
    big = "def f(x):\n" + "".join(f"    x = x + {i} * x  # step {i}\n" for i in range(60))
    assert reply_cap(big, "f", 600) == 600  # never above the model's own cap
    mid = "def f(x):\n" + "".join(f"    x = x + {i}\n" for i in range(20))
    assert 256 < reply_cap(mid, "f", 4096) < 600
    assert reply_cap(mid, "g", 4096) == 4096  # a function the parent lacks: the model's cap
    assert reply_cap("def f(:\n", "f", 700) == 700
    shape = function_reply(SMALL, "priority", 600)
    assert shape.stop == (BLOCK_END,) and shape.max_tokens == 355  # 312 characters


def test_the_stub_ends_a_reply_where_a_real_server_would():
    reply = "```python\ndef f():\n    return '```'\n```\n\nThis function returns a fence."
    assert cut_at_stop(reply, [BLOCK_END]) == ("```python\ndef f():\n    return '```'", "stop")
    assert cut_at_stop(reply, None) == (reply, "stop")
    assert cut_at_stop("abc", "b") == ("a", "stop")


@pytest.mark.slow
def test_a_rewrite_reply_stops_at_its_block_and_is_capped(tmp_path):
    chatty = rule("return max(d_j - t, 0) / w_j") + "\n\nThis rule ranks jobs by their slack."
    with StubLLM(default=Step(content=chatty)) as stub:
        cfg = compact_config(tmp_path, stub.url, "search:\n  islands: 1\ntuning:\n  enabled: false\n")
        res = run_cli("run", "smtt_small", "--config", cfg, "--iterations", "2", "--runs-dir",
                      str(tmp_path / "runs"), "--run-name", "s", env=env())
    assert res.returncode == 0, res.stdout + res.stderr
    asks = stub.requests
    assert asks and all(b["stop"] == [BLOCK_END] and b["max_tokens"] == 355 for b in asks)
    db = tmp_path / "runs" / "s" / "archive.db"
    replies = [r for (r,) in query(db, "select reply from llm_calls")]
    assert replies and all("slack" not in r and r.rstrip().endswith("/ w_j") for r in replies)
    # the unterminated block is still read: the child is the rewrite, evaluated
    kids = query(db, "select status, code from programs where edit_kind = 'function'")
    assert kids and kids[0][0] == "ok" and "return max(d_j - t, 0) / w_j" in kids[0][1]
    assert json.loads(query(db, "select messages from llm_calls")[0][0])  # the prompt was kept


def test_a_begun_reply_opens_the_block_with_the_functions_signature_and_docstring():
    shape = function_reply(SMALL, "priority", 600)
    assert shape.prefill.startswith("```python\ndef priority(p_j: int, w_j: int, d_j: int, t: int)")
    assert shape.prefill.endswith('Earliest due date: just d_j."""\n')
    assert shape.prefill_stop == ("\n```", "\ndef schedule(")  # the block's end, or a restatement
    assert opening("def f(x): return x\n", "f") == ""  # nothing to begin with
    assert opening("@d\ndef f(\n    x):\n    y = 1\n    return x\n", "f") == "@d\ndef f(\n    x):\n"
    assert opening('def f():\n    """only a docstring"""\n', "f") == "def f():\n"


@pytest.mark.slow
def test_a_chatml_model_gets_its_rewrite_begun_and_ended_by_the_server(tmp_path):
    body = "    return max(d_j - t, 0) / w_j\n```\n\nThis is the slack per unit of weight.\n"
    with StubLLM(default=Step(content=body)) as stub:
        model = (f"{{name: openai/stub, api_base: '{stub.url}', style: compact, prompt_format: chatml, "
                 "temperature: 0.3, max_tokens: 600}")
        cfg = write_config(tmp_path / "run.yaml", f"llm:\n  models:\n    - {model}\n"
                           "proposals_in_flight: 1\nevaluations_in_flight: 1\nsearch:\n  islands: 1\n"
                           "tuning:\n  enabled: false\n")
        res = run_cli("run", "smtt_small", "--config", str(cfg), "--iterations", "2", "--runs-dir",
                      str(tmp_path / "runs"), "--run-name", "c", env=env())
    assert res.returncode == 0, res.stdout + res.stderr
    first = stub.requests[0]
    assert "messages" not in first and first["prompt"].startswith("<|im_start|>system\n")
    begun = function_reply(SMALL, "priority", 600).prefill
    assert first["prompt"].endswith("<|im_start|>assistant\n" + begun)
    assert first["stop"] == ["\n```", "\ndef schedule("] and first["max_tokens"] == 355
    db = tmp_path / "runs" / "c" / "archive.db"
    reply = query(db, "select reply from llm_calls order by id")[0][0]
    assert reply.startswith("```python\ndef priority(") and reply.endswith("/ w_j") and "slack" not in reply
    kid = query(db, "select status, code from programs where edit_kind = 'function' order by id")[0]
    assert kid[0] == "ok" and "return max(d_j - t, 0) / w_j" in kid[1]
    assert 'Earliest due date: just d_j."""' in kid[1]  # the docstring came from the prefill
