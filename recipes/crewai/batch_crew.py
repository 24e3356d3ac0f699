"""Run one CrewAI crew over many inputs through kluster.ai's Batch API: like
`crew.kickoff_for_each(inputs)`, but the LLM calls of all runs are coalesced into batch jobs
(cheaper; results arrive within the completion window instead of seconds).
Run: uv run python recipes/crewai/batch_crew.py   (no key needed: uses the emulator)
"""

import os

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_DISABLE_TRACKING", "true")

from crewai import Agent, Crew, Task

from kluster_agents.adapters.crewai import kickoff_for_each_batched, kluster_llm
from kluster_agents.integrations import MicroBatchStats, kluster_backend

PRODUCTS = ["green tea", "trail shoes", "desk lamp", "fountain pen", "road bike", "wool socks"]

with kluster_backend() as backend:
    writer = Agent(
        role="Copywriter",
        goal="Write one-line product taglines",
        backstory="Short and punchy.",
        llm=kluster_llm("llama-3.3-70b", temperature=0.7),
    )
    task = Task(description="Write a tagline for {product}.", expected_output="One line", agent=writer)
    crew = Crew(agents=[writer], tasks=[task])

    stats = MicroBatchStats()
    outputs = kickoff_for_each_batched(crew, [{"product": p} for p in PRODUCTS], completion_window="24h", stats=stats)
    for product, output in zip(PRODUCTS, outputs, strict=False):
        print(f"{product}: {' '.join(output.raw.split())[:90]}")
    print(
        f"{len(PRODUCTS)} crew runs, {stats.calls} LLM calls, {stats.jobs} batch job(s) "
        f"(window sizes {stats.window_sizes})"
    )
    if backend.emulator is not None:  # the built-in emulator's request log
        controls = backend.emulator.controls
        print(
            f"HTTP requests: {len(controls.requests)} (real-time chat completions: {controls.count('/chat/completions')})"
        )
