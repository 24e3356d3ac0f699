"""Fine-tuning: training-file validation, upload (Files or Uploads API), jobs, and the model name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kluster_agents.integrations._api.catalog import get_model
from kluster_agents.integrations._api.errors import KlusterInvalidRequestError, KlusterUnsupportedError
from kluster_agents.integrations._jobs.finetune import (
    KlusterFineTuneError,
    cancel_finetune,
    create_finetune,
    finetune,
    list_finetunes,
    register_finetuned,
    upload_training_file,
    validate_training_file,
    wait_for_finetune,
)

# Engine tests: emulated jobs finish at their first read (observed-like timing: tests/fidelity).
pytestmark = pytest.mark.kluster_emulator(timing="instant")

BASE = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"


def example(i: int) -> dict:
    return {
        "messages": [
            {"role": "system", "content": "Answer in JSON."},
            {"role": "user", "content": f"config {i}"},
            {"role": "assistant", "content": json.dumps({"n": i})},
        ]
    }


@pytest.fixture
def training(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(example(i)) + "\n" for i in range(12)))
    return path


def test_valid_file_is_counted(training):
    report = validate_training_file(training)
    assert report.examples == 12 and report.bytes == training.stat().st_size


def test_every_bad_line_is_reported_with_its_number(tmp_path):
    path = tmp_path / "bad.jsonl"
    lines = [json.dumps(example(i)) for i in range(12)]
    lines[2] = "{not json"
    lines[4] = json.dumps({"messages": [{"role": "user", "content": "no answer"}]})
    lines[6] = json.dumps({"messages": [{"role": "robot", "content": ""}, {"role": "assistant", "content": "x"}]})
    lines[8] = json.dumps([1, 2])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(KlusterInvalidRequestError) as info:
        validate_training_file(path)
    text = str(info.value)
    assert "line 3: not valid JSON" in text
    assert "line 5: no assistant message" in text
    assert "line 7: messages[0].role must be one of system, user, assistant, got 'robot'" in text
    assert "line 7: messages[0].content must be a non-empty string" in text
    assert "line 9: expected a JSON object, got list" in text


def test_too_few_examples(tmp_path):
    path = tmp_path / "small.jsonl"
    path.write_text(json.dumps(example(0)) + "\n")
    with pytest.raises(KlusterInvalidRequestError, match=r"only 1 examples; kluster\.ai needs at least 10"):
        validate_training_file(path)


def test_non_fine_tunable_model_is_refused_before_upload(fake, training):
    with pytest.raises(KlusterUnsupportedError, match=r"cannot be fine-tuned.*Meta-Llama-3.1-8B"):
        create_finetune(training, model="google/gemma-3-27b-it", client=fake.client())
    assert fake.log == []


def test_create_sends_hyperparameters_and_nickname(fake, training):
    job = create_finetune(
        training,
        model=BASE,
        client=fake.client(),
        nickname="json-bot",
        hyperparameters={"n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 0.5},
    )
    stored = fake.jobs[job.id]
    assert stored["hyperparameters"] == {"n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 0.5}
    assert stored["nickname"] == "json-bot" and fake.count("POST", "/files") == 1


def test_bad_hyperparameters_are_refused(fake, training):
    with pytest.raises(ValueError):
        create_finetune(training, model=BASE, client=fake.client(), hyperparameters={"n_epochs": 0})
    assert fake.log == []


def test_large_files_go_through_the_uploads_api(fake, training):
    file_id = upload_training_file(training, client=fake.client(), uploads_api_above=100)
    assert fake.files[file_id] == training.read_bytes()
    assert fake.count("POST", "/uploads") == 1 and fake.count("POST", "/files") == 0


def test_finetune_returns_a_registered_model_name(fake, training):
    name = finetune(training, model=BASE, nickname="json-bot", client=fake.client(), poll_interval=0)
    assert name == f"ft:{BASE}:json-bot:805b5d69"
    info = get_model(name)
    assert info.kind == "fine-tuned" and info.base_model == BASE and info.tools  # inherits the base's tools


def test_cancel_and_list(fake, training):
    job = create_finetune(training, model=BASE, client=fake.client())
    assert cancel_finetune(job.id, client=fake.client()).status == "cancelled"
    assert [j.id for j in list_finetunes(client=fake.client())] == [job.id]
    with pytest.raises(KlusterFineTuneError, match="ended 'cancelled'"):
        register_finetuned(wait_for_finetune(job.id, client=fake.client(), poll_interval=0))


def test_against_the_emulator(kluster_emulator, training):
    name = finetune(training, model=BASE, nickname="emu", settings=kluster_emulator.settings, poll_interval=0.01)
    assert name.startswith("ft:") and get_model(name).base_model
    assert kluster_emulator.controls.count("/fine_tuning/jobs", "POST") == 1
