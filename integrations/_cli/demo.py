"""`kluster-agents demo`: a short tour of what the library does — a streamed chat completion,
a small Batch API job through to its results, and a Verify check — on the real API with a
key, or on the built-in emulator without one (and it says which on the first line)."""

from __future__ import annotations

from rich.console import Console

from kluster_agents.integrations._api.catalog import DEFAULT_MODEL
from kluster_agents.integrations._backend import kluster_backend

BATCH_PROMPTS = (
    "Classify the sentiment of: 'The delivery was late again.'",
    "Classify the sentiment of: 'Great support, solved in minutes!'",
    "Classify the sentiment of: 'It works, I guess.'",
)
VERIFY_CONTEXT = "The Eiffel Tower is in Paris. It was completed in 1889 and is 330 metres tall."


def run_demo(model: str = DEFAULT_MODEL, console: Console | None = None) -> None:
    """Run the three steps and print what happened at each."""
    from kluster_agents.integrations._api.client import make_client, translate_errors
    from kluster_agents.integrations._jobs.batch.run import run_batch
    from kluster_agents.integrations._verify.client import VerifyClient

    console = console or Console()
    with kluster_backend(announce=console.print) as backend:
        client = make_client(backend.settings)

        console.rule("1. streamed chat completion")
        console.print(f"model: {model}", markup=False)
        with translate_errors():
            stream = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "In one sentence: what is kluster.ai?"}], stream=True
            )
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    console.print(chunk.choices[0].delta.content, end="", soft_wrap=True, markup=False, highlight=False)
        console.print()

        console.rule("2. Batch API job")
        requests = [
            {"custom_id": f"review-{i}", "model": model, "messages": [{"role": "user", "content": prompt}]}
            for i, prompt in enumerate(BATCH_PROMPTS)
        ]
        console.print(f"submitting {len(requests)} requests as one batch job (JSONL upload, create, poll)...")
        results = run_batch(requests, settings=backend.settings, client=client, progress=True, journal=False)
        for result in results:
            text = result.unwrap().choices[0].message.content if result.ok else str(result.error)
            console.print(f"  {result.custom_id}: {result.status}: {text}", markup=False, highlight=False)

        console.rule("3. Verify (hallucination check against a context)")
        verifier = VerifyClient(backend.settings)
        for answer in ("The Eiffel Tower was completed in 1889.", "The Eiffel Tower was completed in 1925 in Lyon."):
            verdict = verifier.verify("When was the Eiffel Tower completed?", answer, context=VERIFY_CONTEXT)
            label = "HALLUCINATION" if verdict.is_hallucination else "reliable"
            console.print(f"  {answer!r} -> {label}: {verdict.explanation}", markup=False, highlight=False)
        console.rule("done")
        if backend.emulated:
            console.print("All responses above were emulated. Set KLUSTER_API_KEY to run the same tour on kluster.ai.")
