"""The emulated model judged on paraphrases it was not tuned on (`paraphrases.json`): per behaviour
(parallel tool calls, arithmetic, greetings, lookups, output tools) the share of prompts where it
does what a capable model would; each behaviour must reach 90%."""

from __future__ import annotations

import ast
import json
import math
import operator
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kluster_agents.integrations._api.catalog import get_model
from kluster_agents.integrations.emulator._model.replies import Reply, derived_reply

from .helpers import LLAMA_8B

CORPUS = json.loads((Path(__file__).parent / "paraphrases.json").read_text(encoding="utf-8"))
REQUIRED_HIT_RATE = 0.9
_OPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
}


def _evaluate(expression: str) -> float:
    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.left), walk(node.right))
        raise ValueError(f"not arithmetic: {ast.dump(node)}")

    return walk(ast.parse(expression, mode="eval"))


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, str):
        return isinstance(actual, str) and actual.strip().lstrip("#").casefold() == expected.casefold()
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return math.isclose(expected, actual, abs_tol=1e-9)
    return bool(expected == actual)


def _call_matches(expected: dict[str, Any], name: str, args: dict[str, Any]) -> bool:
    if expected["name"] != name:
        return False
    if "value" in expected:
        try:
            return math.isclose(_evaluate(str(args.get("expression", ""))), expected["value"], abs_tol=1e-9)
        except (ValueError, SyntaxError, ZeroDivisionError, TypeError):
            return False
    return all(_same(v, args.get(k)) for k, v in expected.get("args", {}).items())


def _hit(case: dict[str, Any], tools: list[str], reply: Reply) -> bool:
    expect = case["expect"]
    calls = [(c.name, c.arguments) for c in reply.tool_calls]
    if expect.get("text"):
        return not calls and bool((reply.content or "").strip())
    if expect.get("valid"):
        for name, args in calls:
            try:
                jsonschema.validate(args, CORPUS["tools"][name]["parameters"])
            except (KeyError, jsonschema.ValidationError):
                return False
    remaining = list(calls)
    for wanted in expect["calls"]:
        match = next((c for c in remaining if _call_matches(wanted, *c)), None)
        if match is None:
            return False
        remaining.remove(match)
    return not remaining


def _reply(case: dict[str, Any], tools: list[str]) -> Reply:
    messages = case.get("messages") or [{"role": "user", "content": case["prompt"]}]
    specs = [{"type": "function", "function": {"name": n, **CORPUS["tools"][n]}} for n in tools]
    return derived_reply({"messages": messages, "tools": specs}, get_model(LLAMA_8B))


def hit_rates() -> dict[str, tuple[int, int, list[str]]]:
    """Per behaviour: hits, cases, and the prompts missed."""
    rates = {}
    for behaviour, group in CORPUS["behaviours"].items():
        hits, missed = 0, []
        for case in group["cases"]:
            tools = case.get("tools", group["tools"])
            if _hit(case, tools, _reply(case, tools)):
                hits += 1
            else:
                missed.append(case.get("prompt") or case["messages"][-1]["content"])
        rates[behaviour] = (hits, len(group["cases"]), missed)
    return rates


def test_the_corpus_has_thirty_prompts_per_behaviour() -> None:
    assert {b: len(g["cases"]) >= 30 for b, g in CORPUS["behaviours"].items()} == dict.fromkeys(
        CORPUS["behaviours"], True
    )


def test_every_behaviour_hits_ninety_percent_of_its_paraphrases(capsys: pytest.CaptureFixture[str]) -> None:
    rates = hit_rates()
    with capsys.disabled():
        print()
        for behaviour, (hits, total, _) in rates.items():
            print(f"paraphrase hit rate  {behaviour:<20} {hits}/{total} = {hits / total:.0%}")
    below = {b: missed for b, (hits, total, missed) in rates.items() if hits / total < REQUIRED_HIT_RATE}
    assert not below, f"behaviours under {REQUIRED_HIT_RATE:.0%}; prompts missed: {below}"
