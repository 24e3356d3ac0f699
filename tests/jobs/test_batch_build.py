"""The batch build's shortcuts give the bytes and errors of the full path: `RequestShapes` (compat
decisions cached per model and parameter names) against `prepare_chat_request`, and the line encoder
against the stdlib's JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kluster_agents.integrations._api.compat import RequestShapes, prepare_chat_request
from kluster_agents.integrations._api.errors import KlusterInvalidRequestError
from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations._jobs.batch.input import prepare_requests
from kluster_agents.integrations._jobs.jsonl import BATCH_ENDPOINT, encode_batch_line

LLAMA = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
USER = [{"role": "user", "content": "hi"}]

BODIES: list[dict[str, Any]] = [
    {"model": LLAMA, "messages": USER},
    {"model": LLAMA, "messages": USER, "max_completion_tokens": 64, "temperature": 0.2},
    {"model": LLAMA, "messages": USER, "max_completion_tokens": 10**7},  # above the tier: refused
    {"model": LLAMA, "messages": USER, "max_completion_tokens": 0},
    {"model": LLAMA, "messages": USER, "max_completion_tokens": True},
    {"model": LLAMA, "messages": USER, "temperature": 3.0},
    {"model": LLAMA, "messages": USER, "top_p": None, "seed": 1},
    {"model": LLAMA, "messages": USER, "max_tokens": 32},  # translated
    {"model": LLAMA, "messages": USER, "store": True},  # dropped
    {"model": LLAMA, "messages": USER, "n": 2},  # refused
    {"model": LLAMA.upper(), "messages": USER},  # spelling resolved
    {"model": "my-dedicated-endpoint", "messages": USER},
    {"model": LLAMA, "messages": [{"role": "user", "content": "héllo"}]},
    {"model": LLAMA, "messages": [{"role": "user", "content": "hi", "name": "bob"}]},
    {"model": LLAMA, "messages": [{"role": "robot", "content": "hi"}]},
    {"model": LLAMA, "messages": [{"role": "user", "content": None}]},
    {"model": LLAMA, "messages": []},
    {"model": LLAMA, "messages": ({"role": "user", "content": "hi"},)},
    {"model": "Qwen/Qwen3-235B-A22B-FP8", "messages": USER, "tools": [{"type": "function", "function": {"name": "f"}}]},
    {"model": LLAMA, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
    {"messages": USER},
    {"model": ["not", "hashable"], "messages": USER},
]


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_request_shapes_give_what_the_full_compat_pass_gives(body: dict[str, Any], compat_outcome: Any) -> None:
    settings = KlusterSettings.load(api_key="k", warn_on_drop=False)
    shapes = RequestShapes(settings)
    expected = compat_outcome(lambda b: prepare_chat_request(b, settings=settings), body)
    for _ in range(2):  # the first line decides the shape's plan, the second uses it
        assert compat_outcome(shapes.prepare, body) == expected


def test_request_shapes_keep_the_clamp_setting() -> None:
    settings = KlusterSettings.load(api_key="k", warn_on_drop=False, over_limit="clamp")
    body = {"model": LLAMA, "messages": USER, "max_completion_tokens": 10**7}
    shapes = RequestShapes(settings)
    shapes.prepare({"model": LLAMA, "messages": USER, "max_completion_tokens": 5})  # plan made on a plain line
    assert shapes.prepare(dict(body)) == prepare_chat_request(body, settings=settings)
    assert shapes.prepare(dict(body))["max_completion_tokens"] < 10**7


@pytest.mark.parametrize(
    "body",
    [
        {"model": LLAMA, "messages": USER, "temperature": 0.5, "stop": ["\n", "</s>"]},
        {"model": LLAMA, "messages": [{"role": "user", "content": 'é 😀 \u2028 " \\ \x00 \x7f'}], "seed": 2**70},
        {"model": LLAMA, "messages": USER, "logit_bias": {"50256": -100.0}, "top_p": 1.0, "n": 1},
    ],
)
def test_encoded_lines_are_the_stdlib_json(body: dict[str, Any]) -> None:
    line = encode_batch_line("doc-1", body)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    expected = {"custom_id": "doc-1", "method": "POST", "url": BATCH_ENDPOINT, "body": body}
    assert json.loads(line) == expected
    assert line.decode() == json.dumps(expected, separators=(",", ":"), ensure_ascii=False) + "\n"


def test_a_value_json_cannot_carry_names_its_line(tmp_path: Path) -> None:
    requests = [{"model": LLAMA, "messages": USER}, {"model": LLAMA, "messages": USER, "metadata": object()}]
    with pytest.raises(KlusterInvalidRequestError, match=r"Request 1 \(custom_id 'auto-1'\)") as caught:
        prepare_requests(
            requests,
            KlusterSettings.load(api_key="k"),
            tmp_path,
            max_requests_per_job=None,
            max_file_bytes=1 << 20,
            run_options={},
        )
    assert caught.value.parameter == "requests[1]"


def test_stored_results_join_their_lines_by_custom_id(tmp_path: Path) -> None:
    """Results land on their input line whatever order they come in (positions from the line index);
    a later line for the same position replaces the earlier one and says so; lines without a result
    read as None; the lines themselves stay on disk, byte for byte."""
    from kluster_agents.integrations._jobs.jsonl import LineIndex, ResultLines

    index = LineIndex(tmp_path / "lines.sqlite3")
    for i in range(4):
        index.add(i, f"c-{i}", 0 if i < 2 else 1)
    assert index.positions(2, 4) == {"c-2": 0, "c-3": 1}  # chunk 1 starts at input line 2
    assert list(index.custom_ids(1, 4)) == ["c-1", "c-2", "c-3"]
    stored = ResultLines(tmp_path / "results.jsonl", 3)
    assert stored.add(2, b"two") is False
    assert stored.add(0, "z\u00e9ro".encode()) is False
    assert stored.add(0, b"zero, again") is True
    stored.finish()
    assert list(stored) == [b"zero, again", None, b"two"]
    assert stored.get(2) == b"two" and stored.get(1) is None
    assert (tmp_path / "results.jsonl").read_bytes() == "two\nz\u00e9ro\nzero, again\n".encode()
    with pytest.raises(ValueError, match="finished"):
        stored.add(1, b"late")
    stored.close()
    empty = ResultLines(tmp_path / "empty.jsonl", 2)
    empty.finish()  # nothing to map: every line reads as None
    assert list(empty) == [None, None] and empty.get(0) is None
    empty.close()
    index.close()


def test_remote_lines_split_at_newlines_only_whatever_the_blocks() -> None:
    """Result files stream in arbitrary blocks; lines are cut at b"\\n" only (a raw U+2028 or U+0085 inside a
    JSON string stays in its line), a CRLF ending is dropped from text lines, a last line needs no newline."""
    import httpx
    import openai

    from kluster_agents.integrations._jobs.jsonl import iter_remote_line_bytes, iter_remote_lines

    text = '{"a":"x\u2028y"}\r\n{"b":"\u0085é"}\n\n{"c":1}'
    data = text.encode()

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/files/file-1/content")
        return httpx.Response(200, content=iter([data[i : i + 3] for i in range(0, len(data), 3)]))

    client = openai.OpenAI(
        api_key="k", base_url="https://x.test/v1", http_client=httpx.Client(transport=httpx.MockTransport(handler))
    )
    assert list(iter_remote_line_bytes(client, "file-1")) == [line.encode() for line in text.split("\n")]
    assert list(iter_remote_lines(client, "file-1")) == ['{"a":"x\u2028y"}', '{"b":"\u0085é"}', "", '{"c":1}']
