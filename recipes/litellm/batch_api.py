"""kluster's Batch API from LiteLLM: (1) LiteLLM's own create_file / create_batch / retrieve_batch /
file_content pointed at kluster, (2) batch_completion_via_api(), which returns ModelResponses in
input order using kluster-agents' batch engine.

Run: uv run python recipes/litellm/batch_api.py  (no key: runs on the built-in emulator, whose
batch jobs finish in seconds)
"""

import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # kluster's models come from our catalog

import litellm

from kluster_agents.adapters.litellm import batch_completion_via_api, batch_file_line, batch_kwargs, kluster_status
from kluster_agents.integrations import kluster_backend

MODEL = "kluster/klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"
QUESTIONS = ["What is the capital of France?", "Name a prime number above 10.", "What colour is the sky?"]

with kluster_backend() as backend:
    litellm.suppress_debug_info = True
    kluster = batch_kwargs()  # custom_llm_provider="openai" + kluster's api_base and api_key (never OpenAI's)

    # 1. LiteLLM's batch functions
    path = Path(tempfile.mkdtemp()) / "questions.jsonl"
    with path.open("wb") as f:
        for i, question in enumerate(QUESTIONS):
            f.write(
                batch_file_line(
                    f"q{i}", {"model": MODEL, "messages": [{"role": "user", "content": question}], "max_tokens": 64}
                )
            )
    with path.open("rb") as f:
        uploaded = litellm.create_file(file=f, purpose="batch", **kluster)
    batch = litellm.create_batch(
        completion_window="24h", endpoint="/v1/chat/completions", input_file_id=uploaded.id, **kluster
    )
    # LiteLLM shows kluster's first status, `pre_schedule`, as openai's `validating`; kluster_status() has the real one.
    print(f"submitted batch {batch.id} ({kluster_status(batch)})")
    while batch.status not in ("completed", "failed", "expired", "cancelled"):
        time.sleep(1 if not backend.emulated else 0.1)
        batch = litellm.retrieve_batch(batch_id=batch.id, **kluster)
    print(f"batch {batch.status}: {batch.request_counts.completed} completed, {batch.request_counts.failed} failed")
    output = litellm.file_content(file_id=batch.output_file_id, **kluster)
    for line in output.content.decode().splitlines():
        row = json.loads(line)
        print(f"  {row['custom_id']}: {row['response']['body']['choices'][0]['message']['content']}")

    # 2. The same through the batch engine, as ModelResponses in input order
    requests = [{"model": MODEL, "messages": [{"role": "user", "content": q}]} for q in QUESTIONS]
    responses = batch_completion_via_api(requests, journal=False, poll_interval=0.1 if backend.emulated else None)
    for question, response in zip(QUESTIONS, responses, strict=False):
        print(f"{type(response).__name__} for {question!r}: {response.choices[0].message.content}")
