"""Job faults: bad poll intervals, ambiguous result lines, batch modes past their window, full disks.

Each ends in a typed `KlusterError` raised before anything is sent where it can be, and never in a
line reported as succeeded that the service did not answer unambiguously.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kluster_agents.integrations.api.errors import KlusterConfigError
from kluster_agents.integrations.api.settings import KlusterSettings
from tests.jobs.fake_api import API_KEY, BASE_URL, FakeKluster

from .conftest import MODEL, user

pytestmark = pytest.mark.timeout(60)


def _fake() -> tuple[FakeKluster, KlusterSettings]:
    return FakeKluster(), KlusterSettings.load(api_key=API_KEY, base_url=BASE_URL)


def _requests(n: int) -> list[dict[str, Any]]:
    return [{"model": MODEL, "messages": user(f"prompt {i}")} for i in range(n)]


def _rewrite_output(
    fake: FakeKluster, monkeypatch: pytest.MonkeyPatch, rewrite: Callable[[list[bytes]], list[bytes]]
) -> None:
    real = fake._content

    def content(request: Any, file_id: str) -> Any:
        response = real(request, file_id)
        if file_id in fake.files and any(b.get("output_file_id") == file_id for b in fake.batches.values()):
            return type(response)(200, content=b"\n".join(rewrite(fake.files[file_id].splitlines())) + b"\n")
        return response

    monkeypatch.setattr(fake, "_content", content)


# -- poll intervals -----------------------------------------------------------------------------
BAD_INTERVALS = [-1, -0.001, float("nan"), float("inf"), "1", True]


@pytest.mark.parametrize("bad", BAD_INTERVALS, ids=repr)
def test_bad_poll_interval_is_refused_before_anything_is_sent(bad: Any) -> None:
    from kluster_agents.integrations.jobs.adaptive import complete_adaptive
    from kluster_agents.integrations.jobs.batch import run_batch

    fake, settings = _fake()
    with pytest.raises(KlusterConfigError, match=r"poll_interval.*KLUSTER_POLL_INTERVAL"):
        run_batch(_requests(2), settings=settings, client=fake.client(), journal=False, poll_interval=bad)
    with pytest.raises(KlusterConfigError, match="poll_interval"):
        complete_adaptive(
            {"model": MODEL, "messages": user("hi")}, settings=settings, client=fake.client(), poll_interval=bad
        )
    assert fake.log == []


@pytest.mark.parametrize("bad", BAD_INTERVALS, ids=repr)
def test_bad_poll_interval_refused_by_finetune_and_microbatcher(bad: Any, tmp_path: Any) -> None:
    from kluster_agents.integrations.jobs.finetune import finetune
    from kluster_agents.integrations.jobs.microbatch import MicroBatcher

    fake, settings = _fake()
    with pytest.raises(KlusterConfigError, match="poll_interval"):
        finetune(tmp_path / "train.jsonl", model=MODEL, client=fake.client(), poll_interval=bad)
    with pytest.raises(KlusterConfigError, match="poll_interval"):
        MicroBatcher(settings, client=fake.client(), poll_interval=bad)
    assert fake.log == []


@pytest.mark.parametrize("bad", ["-1", "nan", "inf", "soon"])
def test_bad_poll_interval_env_var_is_refused_before_anything_is_sent(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    from kluster_agents.integrations.jobs.batch import run_batch

    fake, _ = _fake()
    monkeypatch.setenv("KLUSTER_API_KEY", API_KEY)
    monkeypatch.setenv("KLUSTER_BASE_URL", BASE_URL)
    monkeypatch.setenv("KLUSTER_POLL_INTERVAL", bad)
    with pytest.raises(KlusterConfigError, match=r"poll_interval \(KLUSTER_POLL_INTERVAL\)"):
        run_batch(_requests(2), client=fake.client(), journal=False)
    assert fake.log == []


@pytest.mark.parametrize("interval", [0, 0.0, 0.001])
def test_zero_poll_interval_keeps_a_floor(monkeypatch: pytest.MonkeyPatch, interval: float) -> None:
    """0 means "as often as allowed", not a busy loop: every wait between polls is at least the floor."""
    from kluster_agents.integrations.jobs import polling
    from kluster_agents.integrations.jobs.batch import run_batch

    fake, settings = _fake()
    fake.polls_to_finish = 5
    waits: list[float] = []
    monkeypatch.setattr(polling.time, "sleep", waits.append)
    results = run_batch(_requests(2), settings=settings, client=fake.client(), journal=False, poll_interval=interval)
    assert all(r.ok for r in results)
    assert len(waits) >= 4 and min(waits) >= polling.POLL_MIN_INTERVAL


def test_zero_poll_interval_env_var_keeps_a_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    from kluster_agents.integrations.jobs.polling import POLL_MIN_INTERVAL, PollSchedule

    monkeypatch.setenv("KLUSTER_POLL_INTERVAL", "0")
    schedule = PollSchedule(None, None, "job")
    assert [schedule.next_delay() for _ in range(3)] == [POLL_MIN_INTERVAL] * 3


# -- ambiguous result lines ---------------------------------------------------------------------
def _answered_twice(fake: FakeKluster, monkeypatch: pytest.MonkeyPatch, custom_id: bytes) -> None:
    """The output file answers `custom_id` a second time, with a different reply."""

    def rewrite(lines: list[bytes]) -> list[bytes]:
        again = [line.replace(b"prompt", b"other") for line in lines if b'"' + custom_id + b'"' in line]
        assert again and all(line not in lines for line in again)
        return [*lines, *again]

    _rewrite_output(fake, monkeypatch, rewrite)


def test_duplicate_answer_fails_that_line_with_both_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    from kluster_agents.integrations.jobs.batch import run_batch, submit_batch
    from kluster_agents.integrations.jobs.batch_results import KlusterBatchWarning, KlusterDuplicateAnswerError

    fake, settings = _fake()
    _answered_twice(fake, monkeypatch, b"auto-1")
    with pytest.warns(KlusterBatchWarning, match="auto-1"):
        results = run_batch(_requests(3), settings=settings, client=fake.client(), journal=False, poll_interval=0)
    assert [r.status for r in results] == ["succeeded", "failed", "succeeded"]
    for result in (results[1], list(results)[1]):  # random access and iteration agree
        error = result.error
        assert isinstance(error, KlusterDuplicateAnswerError) and error.custom_id == "auto-1"
        assert "2 answers came back" in str(error) and error.batch_id
        contents = [answer.content for answer in error.answers]
        assert len(contents) == 2 and contents[0] != contents[1]
        assert [answer.ok for answer in error.answers] == [True, True]
        with pytest.raises(KlusterDuplicateAnswerError):
            result.unwrap()
    with (
        pytest.warns(KlusterBatchWarning),
        submit_batch(_requests(3), settings=settings, client=fake.client(), journal=False, poll_interval=0) as handle,
    ):
        assert [r.ok for r in handle.iter_results()] == [True, False, True]


async def test_duplicate_answer_fails_only_that_microbatch_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from kluster_agents.integrations.jobs.batch_results import KlusterBatchWarning, KlusterDuplicateAnswerError
    from kluster_agents.integrations.jobs.microbatch import MicroBatcher

    fake, settings = _fake()
    _answered_twice(fake, monkeypatch, b"b")
    with pytest.warns(KlusterBatchWarning):
        async with MicroBatcher(settings, client=fake.client(), max_wait=0, poll_interval=0) as mb:
            outcomes = await asyncio.gather(
                *(mb.complete({"model": MODEL, "messages": user(f"prompt {cid}")}, custom_id=cid) for cid in "abc"),
                return_exceptions=True,
            )
    assert not isinstance(outcomes[0], BaseException) and not isinstance(outcomes[2], BaseException)
    assert isinstance(outcomes[1], KlusterDuplicateAnswerError) and len(outcomes[1].answers) == 2
