"""`run_batch`/`BatchHandle.results()` return a `BatchResults` sequence read back from the run's
on-disk line index: it behaves like the list it replaces (len, indexing, slicing, iteration,
equality), stays readable after the handle is closed, and deletes the files when released."""

from __future__ import annotations

import gc
from collections.abc import Sequence

import pytest

from kluster_agents.integrations._api.errors import KlusterConfigError
from kluster_agents.integrations._api.settings import KlusterSettings
from kluster_agents.integrations._jobs.batch.decode import BatchResult
from kluster_agents.integrations._jobs.batch.results import BatchResults
from kluster_agents.integrations._jobs.batch.run import run_batch
from kluster_agents.integrations._jobs.batch.submit import submit_batch

from .conftest import chat
from .fake_api import FakeKluster

pytestmark = pytest.mark.kluster_emulator(timing="instant")


def test_results_behave_like_a_list_across_chunks(fake: FakeKluster, fake_settings: KlusterSettings) -> None:
    fake.fail_ids = {"auto-5"}
    results = run_batch(
        [chat(i) for i in range(10)],
        settings=fake_settings,
        client=fake.client(),
        journal=False,
        poll_interval=0,
        max_requests_per_job=4,  # 3 jobs: lookups cross chunk boundaries
    )
    assert isinstance(results, BatchResults) and isinstance(results, Sequence)
    assert len(results) == 10 and "10 results" in repr(results)
    assert [r.index for r in results] == list(range(10))
    assert results[0].unwrap().choices[0].message.content == "echo: prompt 0"
    assert results[-1].index == 9 and results[-1].custom_id == "auto-9"
    assert results[4].custom_id == "auto-4" and results[8].custom_id == "auto-8"  # first lines of jobs 2 and 3
    assert [r.index for r in results[3:9:2]] == [3, 5, 7]
    assert not results[5].ok and results[5].error is not None and results[5].response is None
    assert results == list(results) and results[2] == results[2]
    with pytest.raises(IndexError):
        results[10]
    with pytest.raises(IndexError):
        results[-11]


def test_results_outlive_the_handle_and_clean_up_when_released(
    fake: FakeKluster, fake_settings: KlusterSettings
) -> None:
    with submit_batch(
        [chat(i) for i in range(3)], settings=fake_settings, client=fake.client(), journal=False, poll_interval=0
    ) as handle:
        results = handle.results()
    workdir = handle.workdir
    assert workdir.exists()  # the results still read from it
    assert [r.unwrap().choices[0].message.content for r in results] == [f"echo: prompt {i}" for i in range(3)]
    results.close()
    assert not workdir.exists()
    with pytest.raises(KlusterConfigError, match="closed"):
        results[0]

    with submit_batch([chat(0)], settings=fake_settings, client=fake.client(), journal=False, poll_interval=0) as h2:
        dropped = h2.results()
    assert h2.workdir.exists()
    del dropped
    gc.collect()
    assert not h2.workdir.exists()  # garbage-collected results release the files too


def test_a_closed_handle_says_so(fake: FakeKluster, fake_settings: KlusterSettings) -> None:
    handle = submit_batch([chat(0)], settings=fake_settings, client=fake.client(), journal=False, poll_interval=0)
    handle.close()
    with pytest.raises(KlusterConfigError, match="closed"):
        handle.results()


def test_batch_result_is_compact_and_parses_lazily() -> None:
    payload = (
        '{"custom_id":"a","response":{"status_code":200,"body":{"id":"c","object":"chat.completion","created":1,'
        '"model":"m","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"hi"}}]}}}'
    )
    lazy = BatchResult("a", 0, "succeeded", payload=payload)
    assert not hasattr(lazy, "__dict__")  # __slots__: no per-object dict
    assert lazy.ok and lazy.unwrap().choices[0].message.content == "hi"
    assert lazy.response is lazy.response  # parsed once
    eager = BatchResult("a", 0, "succeeded", lazy.response)
    assert eager == lazy and "content='hi'" in repr(eager)
    eager.duplicate = True
    assert eager != lazy


def _succeeded(body: dict[str, object]) -> BatchResult:
    import json

    line = json.dumps({"id": "r", "custom_id": "c", "response": {"status_code": 200, "body": body}})
    return BatchResult("c", 0, "succeeded", payload=line)


def _completion(message: dict[str, object]) -> dict[str, object]:
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": [choice]}


@pytest.mark.parametrize(
    "message",
    [
        {"role": "assistant", "content": "plain"},
        {"role": "assistant", "content": 'é 😀 \u2028 \\ "'},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "assistant"},  # no content key
        {"role": "assistant", "content": ["not", "text"]},  # an odd shape: the parsed completion decides
    ],
)
def test_content_is_the_reply_text_the_completion_holds(message: dict[str, object]) -> None:
    """`content` reads the raw line; it must agree with the parsed `ChatCompletion`, before and after
    `response` has been read."""
    lazy, parsed = _succeeded(_completion(message)), _succeeded(_completion(message))
    response = parsed.response
    assert response is not None
    expected = response.choices[0].message.content
    assert lazy.content == expected == parsed.content


def test_content_of_a_failed_or_choiceless_line_is_none(fake: FakeKluster, fake_settings: KlusterSettings) -> None:
    fake.fail_ids = {"auto-1"}
    results = run_batch(
        [chat(i) for i in range(3)], settings=fake_settings, client=fake.client(), journal=False, poll_interval=0
    )
    assert [r.content for r in results] == ["echo: prompt 0", None, "echo: prompt 2"]
    assert _succeeded({**_completion({"role": "assistant", "content": "x"}), "choices": []}).content is None


def test_replies_holding_raw_line_separators_survive_the_download(
    fake: FakeKluster, fake_settings: KlusterSettings
) -> None:
    """A result file is JSONL split at newlines only: a reply may hold U+2028, U+0085 or a CR raw (valid in a
    JSON string when not ASCII-escaped), which text line splitting would cut, losing that result."""
    import json

    reply = "one\u2028two\x85three\rfour"
    with submit_batch(
        [chat(i) for i in range(3)], settings=fake_settings, client=fake.client(), journal=False, poll_interval=0
    ) as handle:
        handle.wait()
        output = fake.batches[handle.batch_ids[0]]["output_file_id"]
        rows = [json.loads(line) for line in fake.files[output].splitlines()]
        for row in rows:
            row["response"]["body"]["choices"][0]["message"]["content"] = f"{reply} {row['custom_id']}"
        fake.files[output] = "".join(json.dumps(r, ensure_ascii=False) + "\r\n" for r in rows).encode()
        results = handle.results()
    expected = [f"{reply} auto-{i}" for i in range(3)]
    assert [r.content for r in results] == expected
    assert [r.unwrap().choices[0].message.content for r in results] == expected
    assert results[1].content == expected[1]


def test_unusual_result_lines_are_judged_the_general_way(fake: FakeKluster, fake_settings: KlusterSettings) -> None:
    """Lines the one-pass reader does not recognise (no string custom_id, an error beside a 200, an odd reply
    shape) still land on their input line with the same verdict as before."""
    import json

    with submit_batch(
        [chat(i) for i in range(4)], settings=fake_settings, client=fake.client(), journal=False, poll_interval=0
    ) as handle:
        handle.wait()
        output = fake.batches[handle.batch_ids[0]]["output_file_id"]
        rows = {r["custom_id"]: r for r in map(json.loads, fake.files[output].splitlines())}
        rows["auto-1"]["error"] = {"code": "oops", "message": "half done"}  # an error beside a 200: failed
        rows["auto-2"]["response"]["body"]["choices"][0]["message"]["content"] = ["odd"]  # the completion decides
        rows["auto-3"]["response"]["body"]["choices"] = []
        lines = [json.dumps(r) for r in rows.values()]
        lines.append("{not json")  # skipped with a warning
        fake.files[output] = "\n".join(lines).encode()  # no final newline
        with pytest.warns(UserWarning, match="skipped line 5"):
            results = handle.results()
    assert results[0].content == "echo: prompt 0" and results[0].ok
    assert not results[1].ok and results[1].error is not None and "oops" in str(results[1].error)
    assert results[2].ok and results[2].content == results[2].unwrap().choices[0].message.content
    assert results[3].ok and results[3].content is None


_BODY = {"id": "x", "object": "chat.completion", "created": 1, "model": "m"}


@pytest.mark.parametrize(
    "line",
    [
        {"custom_id": "c", "response": {"status_code": 200, "body": {**_BODY, "choices": []}}},
        {"custom_id": "c", "error": None, "response": {"status_code": 200.0, "body": _completion({"content": "t"})}},
        {"custom_id": "c", "error": {"message": "x"}, "response": {"status_code": 200, "body": _completion({})}},
        {"custom_id": "c", "error": "", "response": {"status_code": 200, "body": _completion({"content": None})}},
        {"custom_id": "c", "response": {"status_code": "200", "body": _completion({"content": "t"})}},
        {"custom_id": "c", "response": {"status_code": 400, "body": {"error": {"message": "bad"}}}},
        {"custom_id": "c", "response": {"status_code": 200, "body": {**_BODY, "choices": None}}},
        {"custom_id": "c", "response": {"status_code": 200, "body": _completion({"role": "assistant"})}},
        {"custom_id": "c", "response": {"status_code": 200, "body": _completion({"content": ["odd"]})}},
        {"custom_id": "c", "response": None, "error": {"code": "x", "message": "no"}},
        {"custom_id": 7, "response": {"status_code": 200, "body": _completion({"content": "t"})}},
    ],
)
def test_the_one_pass_reader_agrees_with_the_general_verdict(line: dict[str, object]) -> None:
    """`result_from_line` (one pass over a stored line) gives what `build_result` gives after `line_ok`."""
    import json

    from openai.types import Batch

    from kluster_agents.integrations._jobs.batch.decode import build_result, line_ok, result_from_line

    batch = Batch.model_construct(id="b", status="completed", errors=None)
    payload = json.dumps(line).encode()
    fast = result_from_line(0, "c", payload, batch)
    general = build_result(0, "c", line_ok(line), payload, batch)
    assert (fast.status, fast.content, str(fast.error)) == (general.status, general.content, str(general.error))
    assert fast == general
