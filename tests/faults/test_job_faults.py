"""Job faults: bad poll intervals, ambiguous result lines, batch modes past their window, full disks.

Each ends in a typed `KlusterError` raised before anything is sent where it can be, and never in a
line reported as succeeded that the service did not answer unambiguously.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kluster_agents.integrations._api.errors import KlusterConfigError
from kluster_agents.integrations._api.settings import KlusterSettings
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
    from kluster_agents.integrations._jobs.adaptive import complete_adaptive
    from kluster_agents.integrations._jobs.batch.run import run_batch

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
    from kluster_agents.integrations._jobs.finetune import finetune
    from kluster_agents.integrations._jobs.microbatch import MicroBatcher

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
    from kluster_agents.integrations._jobs.batch.run import run_batch

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
    from kluster_agents.integrations._jobs import polling
    from kluster_agents.integrations._jobs.batch.run import run_batch

    fake, settings = _fake()
    fake.polls_to_finish = 5
    waits: list[float] = []
    monkeypatch.setattr(polling.time, "sleep", waits.append)
    results = run_batch(_requests(2), settings=settings, client=fake.client(), journal=False, poll_interval=interval)
    assert all(r.ok for r in results)
    assert len(waits) >= 4 and min(waits) >= polling.POLL_MIN_INTERVAL


def test_zero_poll_interval_env_var_keeps_a_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    from kluster_agents.integrations._jobs.polling import POLL_MIN_INTERVAL, PollSchedule

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
    from kluster_agents.integrations._jobs.batch.decode import KlusterBatchWarning, KlusterDuplicateAnswerError
    from kluster_agents.integrations._jobs.batch.run import run_batch
    from kluster_agents.integrations._jobs.batch.submit import submit_batch

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

    from kluster_agents.integrations._jobs.batch.decode import KlusterBatchWarning, KlusterDuplicateAnswerError
    from kluster_agents.integrations._jobs.microbatch import MicroBatcher

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


# -- framework batch modes: a failed line, a job that never finishes ------------------------------
def _hold_jobs(emulator: Any) -> None:
    """Every batch job stays queued for an hour: a batch mode must not wait past its timeout."""
    from kluster_agents.integrations.emulator._control.controls import JobTiming

    emulator.controls.set_timing(JobTiming(batch_scheduling=3600))


def _fail_lines_answering(monkeypatch: pytest.MonkeyPatch, word: bytes) -> None:
    """Every batch line whose answer mentions `word` comes back failed (also when a framework retries it)."""
    from kluster_agents.integrations._api.errors import KlusterBatchError
    from kluster_agents.integrations._jobs.batch import results as engine  # reads each line back
    from kluster_agents.integrations._jobs.batch.decode import BatchResult

    real = engine.result_from_line

    def result_from_line(idx: int, custom_id: str, payload: Any, batch: Any) -> BatchResult:
        if payload is not None and word in bytes(payload):
            error = KlusterBatchError("the line failed", custom_id=custom_id, batch_id=batch.id)
            return BatchResult(custom_id, idx, "failed", error=error)
        return real(idx, custom_id, payload, batch)

    monkeypatch.setattr(engine, "result_from_line", result_from_line)


def test_crewai_batched_calls_keep_the_other_results_when_one_line_fails(
    kluster_emulator_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("crewai")
    from kluster_agents.adapters.crewai import call_for_each_batched, kluster_llm
    from kluster_agents.integrations._api.errors import KlusterBatchError

    llm = kluster_llm(MODEL, max_retries=0)
    _fail_lines_answering(monkeypatch, b"two")
    outcomes = call_for_each_batched(llm, ["one", "two", "three"], return_exceptions=True, poll_interval=0.01)
    assert [type(o) for o in outcomes] == [str, KlusterBatchError, str]
    assert "one" in outcomes[0] and "three" in outcomes[2]
    with pytest.raises(KlusterBatchError) as info:
        call_for_each_batched(llm, ["one", "two", "three"], poll_interval=0.01)
    assert any("2 of 3 calls succeeded" in note for note in info.value.__notes__)


def test_crewai_kickoff_for_each_batched_keeps_the_other_crews_outputs(
    kluster_emulator_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("crewai")
    from crewai import Agent, Crew, Task
    from crewai.crews.crew_output import CrewOutput

    from kluster_agents.adapters.crewai import kickoff_for_each_batched, kluster_llm

    llm = kluster_llm(MODEL, max_retries=0)
    agent = Agent(role="Writer", goal="Write taglines", backstory="Short.", llm=llm, max_retry_limit=0)
    task = Task(description="A tagline for {topic}.", expected_output="one line", agent=agent)
    crew = Crew(agents=[agent], tasks=[task])
    _fail_lines_answering(monkeypatch, b"maps")
    inputs = [{"topic": t} for t in ("tea", "maps", "pens")]
    outcomes = kickoff_for_each_batched(crew, inputs, return_exceptions=True, poll_interval=0.01)
    assert [isinstance(o, CrewOutput) for o in outcomes] == [True, False, True]
    assert isinstance(outcomes[1], Exception)


def test_crewai_batched_mode_times_out_with_the_job_id(kluster_emulator_env: Any) -> None:
    pytest.importorskip("crewai")
    from kluster_agents.adapters.crewai import call_for_each_batched, kluster_llm
    from kluster_agents.integrations._api.errors import KlusterTimeoutError

    _hold_jobs(kluster_emulator_env)
    llm = kluster_llm(MODEL, max_retries=0)
    with pytest.raises(KlusterTimeoutError, match=r"Batch \S+ did not finish within 0.3 s"):
        call_for_each_batched(llm, ["one", "two"], timeout=0.3, poll_interval=0.01)


def test_langchain_batch_mode_times_out_with_the_job_id(kluster_emulator_env: Any) -> None:
    pytest.importorskip("langchain_openai")
    from kluster_agents.adapters.langchain import ChatKluster
    from kluster_agents.integrations._api.errors import KlusterTimeoutError

    _hold_jobs(kluster_emulator_env)
    model = ChatKluster(model=MODEL, max_retries=0, batch=True, batch_timeout=0.3, batch_poll_interval=0.01)
    outputs = model.batch(["one", "two"], return_exceptions=True)
    assert all(isinstance(o, KlusterTimeoutError) for o in outputs)
    assert all(o.args and "did not finish within 0.3 s" in str(o) and "batch" in str(o).lower() for o in outputs)


async def test_pydantic_ai_run_many_times_out_with_the_job_id(kluster_emulator: Any) -> None:
    pytest.importorskip("pydantic_ai")
    from pydantic_ai import Agent

    from kluster_agents.adapters.pydantic_ai import KlusterProvider, kluster_model, run_many
    from kluster_agents.integrations._api.errors import KlusterTimeoutError

    _hold_jobs(kluster_emulator)
    agent = Agent(kluster_model(MODEL, provider=KlusterProvider(settings=kluster_emulator.settings)))
    outcomes = await run_many(agent, ["one", "two"], timeout=0.3, poll_interval=0.01)
    assert [type(o.error) for o in outcomes] == [KlusterTimeoutError] * 2
    assert all("did not finish within 0.3 s" in str(o.error) for o in outcomes)


def test_a_job_never_marked_expired_stops_the_wait_with_its_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service keeps reporting a job in progress long after its completion window: no endless wait."""
    from kluster_agents.integrations._api.errors import KlusterTimeoutError
    from kluster_agents.integrations._jobs.batch.run import run_batch
    from kluster_agents.integrations._jobs.polling import wait_for_batch

    fake, settings = _fake()
    fake.polls_to_finish = 10**9
    real = fake._batch_json
    monkeypatch.setattr(
        fake, "_batch_json", lambda batch_id: type(real(batch_id))(200, json={**real(batch_id).json(), "expires_at": 1})
    )
    with pytest.raises(KlusterTimeoutError, match=r"Batch batch-\d+ is still 'in_progress'.*completion window"):
        run_batch(_requests(2), settings=settings, client=fake.client(), journal=False, poll_interval=0)
    assert fake.count("GET", r"/batches/[^/]+") == 1
    [batch_id] = fake.batches
    with pytest.raises(KlusterTimeoutError, match=batch_id):
        wait_for_batch(fake.client(), batch_id, poll_interval=0)


# -- full disks -----------------------------------------------------------------------------------
def _full(*args: Any, **kwargs: Any) -> Any:
    import errno

    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_while_spooling_the_input_is_typed_and_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from kluster_agents.integrations._api.errors import KlusterDiskError
    from kluster_agents.integrations._jobs import jsonl
    from kluster_agents.integrations._jobs.batch.run import run_batch

    fake, settings = _fake()
    monkeypatch.setattr(jsonl.ChunkedWriter, "write", _full)
    with pytest.raises(KlusterDiskError, match=r"kluster-batch-.*No space left.*TMPDIR") as info:
        run_batch(_requests(3), settings=settings, client=fake.client(), journal=False, poll_interval=0)
    assert isinstance(info.value, OSError) and "kluster-batch-" in info.value.path
    assert fake.log == []


def test_full_disk_while_spooling_results_is_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from kluster_agents.integrations._api.errors import KlusterDiskError
    from kluster_agents.integrations._jobs import jsonl
    from kluster_agents.integrations._jobs.batch.run import run_batch

    fake, settings = _fake()
    monkeypatch.setattr(jsonl.ResultLines, "_write", _full)
    with pytest.raises(KlusterDiskError, match=r"results of batch .*No space left") as info:
        run_batch(_requests(3), settings=settings, client=fake.client(), journal=False, poll_interval=0)
    assert not Path(info.value.path).exists()  # the half-written spool is gone with the handle


def test_full_disk_under_the_journal_is_typed(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    import sqlite3

    from kluster_agents.integrations._api.errors import KlusterDiskError
    from kluster_agents.integrations._jobs.batch.run import run_batch
    from kluster_agents.integrations._jobs.journal import Journal

    def full(*args: Any, **kwargs: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    fake, settings = _fake()
    monkeypatch.setattr(Journal, "record", full)
    journal = tmp_path / "journal.db"
    with pytest.raises(KlusterDiskError, match=r"journal.*journal.db.*disk is full.*journal=False") as info:
        run_batch(_requests(2), settings=settings, client=fake.client(), journal=journal, poll_interval=0)
    assert info.value.path == str(journal)
    monkeypatch.undo()
    monkeypatch.setattr(Journal, "finish", full)
    with pytest.raises(KlusterDiskError, match="journal"):
        run_batch(_requests(2), settings=settings, client=fake.client(), journal=journal, poll_interval=0)


def _cli(emulator: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    import typer
    from typer.testing import CliRunner

    from kluster_agents.integrations._cli.batch import batch_app

    monkeypatch.setenv("KLUSTER_JOURNAL_PATH", str(tmp_path / "journal.sqlite3"))
    emulator.controls.set_timing("instant")
    app = typer.Typer()
    app.add_typer(batch_app, name="batch")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("one\ntwo\nthree\n")
    base = ["batch", "submit", "--prompts", str(prompts), "--model", MODEL, "--poll-interval", "0.01"]
    return CliRunner().invoke(app, [*base, *args])


@pytest.mark.parametrize("where", ["a-directory", "missing/folder/out.jsonl"])
def test_cli_bad_output_path_is_refused_before_submitting(
    kluster_emulator_env: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    (tmp_path / "a-directory").mkdir()
    result = _cli(kluster_emulator_env, tmp_path, monkeypatch, "-o", str(tmp_path / where))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert ("is a directory" if where == "a-directory" else "does not exist") in result.output
    assert kluster_emulator_env.controls.count("/batches", "POST") == 0
    assert kluster_emulator_env.controls.count("/files", "POST") == 0


def test_cli_full_disk_leaves_no_partial_results_file(
    kluster_emulator_env: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    out = tmp_path / "out.jsonl"
    real = tempfile.NamedTemporaryFile

    class FillsUp:
        """A results file on a disk that is full after the first line."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._file = real(*args, **kwargs)
            self.name = self._file.name
            self._lines = 0

        def write(self, text: str) -> int:
            self._lines += 1
            if self._lines > 1:
                _full()
            return int(self._file.write(text))

        def __enter__(self) -> FillsUp:
            self._file.__enter__()
            return self

        def __exit__(self, *exc: Any) -> None:
            self._file.__exit__(*exc)

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", FillsUp)
    result = _cli(kluster_emulator_env, tmp_path, monkeypatch, "-o", str(out))
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "No space left" in result.output and str(out) in result.output.replace("\n", "")
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


def test_a_looping_exception_chain_is_searched_once() -> None:
    """An exception chain can loop back on itself (A's context is B, B's is A): the search for a failed
    line's own error ends instead of spinning (it hung a CrewAI batch call at 100% CPU)."""
    from kluster_agents.integrations._jobs.batch_transport import batch_error_from

    first, second = ValueError("a"), RuntimeError("b")
    first.__context__, second.__context__ = second, first
    assert batch_error_from(first) is None


def _disk_full_in(folder: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files opened for writing in `folder` (or by descriptor, as temporary files are) sit on a full disk:
    a write puts half its text down, then fails with ENOSPC, as a real full disk can."""
    import io

    real_open = io.open

    class Full:
        def __init__(self, file: Any) -> None:
            self._file = file

        def write(self, text: Any) -> int:
            self._file.write(text[: len(text) // 2])
            self._file.flush()
            _full()
            return 0

        def __getattr__(self, name: str) -> Any:
            return getattr(self._file, name)

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: Any) -> None:
            self._file.close()

    def open_on_a_full_disk(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        opened = real_open(file, mode, *args, **kwargs)
        writing = any(flag in mode for flag in "wax+")
        return Full(opened) if writing and (isinstance(file, int) or str(folder) in str(file)) else opened

    monkeypatch.setattr(io, "open", open_on_a_full_disk)


def test_cli_litellm_config_on_a_full_disk_keeps_the_previous_file(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`litellm-config -o` never leaves half a config.yaml for a proxy to load: the previous file stays."""
    pytest.importorskip("litellm")
    from typer.testing import CliRunner

    from kluster_agents.integrations._cli.app import app

    out = tmp_path / "config.yaml"
    out.write_text("model_list: []  # the previous config\n")
    _disk_full_in(tmp_path, monkeypatch)
    result = CliRunner().invoke(app, ["litellm-config", "-o", str(out)])
    monkeypatch.undo()
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "No space left" in result.output and "-o" in result.output
    assert out.read_text() == "model_list: []  # the previous config\n"
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]


def test_cli_litellm_config_writes_the_whole_file(tmp_path: Any) -> None:
    pytest.importorskip("litellm")
    from typer.testing import CliRunner

    from kluster_agents.integrations._cli.app import app

    out = tmp_path / "config.yaml"
    result = CliRunner().invoke(app, ["litellm-config", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == CliRunner().invoke(app, ["litellm-config"]).output
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]
