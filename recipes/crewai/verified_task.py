"""A CrewAI task guarded by kluster.ai Verify: the answer is checked against a reference text;
a flagged answer goes back to the agent with Verify's explanation, and the retry passes.
Run: uv run python recipes/crewai/verified_task.py   (no key needed: uses the emulator)
"""

import os

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_DISABLE_TRACKING", "true")

from crewai import Agent, Crew, Task

from kluster_agents.adapters.crewai import KlusterVerifyGuardrail, kluster_llm
from kluster_agents.integrations import VerifyPolicy, kluster_backend

REFERENCE = (
    "The Eiffel Tower in Paris was completed in 1889 for the World's Fair. It is 330 metres tall "
    "and was designed by the engineering company of Gustave Eiffel."
)

with kluster_backend() as backend:
    guardrail = KlusterVerifyGuardrail(
        VerifyPolicy(on_hallucination="retry", max_retries=2),  # then raise HallucinationDetected
        context=lambda output: REFERENCE,  # or "tools" / "conversation" / None (web search)
    )
    agent = Agent(
        role="Guide",
        goal="Answer questions about landmarks",
        backstory="A Paris tour guide.",
        llm=kluster_llm("llama-3.3-70b", temperature=0),
    )
    task = Task(
        description=f"Using this reference: {REFERENCE}\nWhen was the Eiffel Tower completed, and how tall is it?",
        expected_output="One sentence",
        agent=agent,
        guardrail=guardrail,
        guardrail_max_retries=2,
    )

    result = Crew(agents=[agent], tasks=[task]).kickoff()
    for attempt, outcome in enumerate(guardrail.outcomes, 1):
        print(f"attempt {attempt}: {outcome.status} -> {outcome.action}")
        if outcome.result is not None:
            print(f"  Verify: {outcome.result.explanation}")
    print("final answer:", result.raw)
    print(guardrail.policy.report)
