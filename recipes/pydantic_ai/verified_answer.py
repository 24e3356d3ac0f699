"""A PydanticAI agent whose answers are checked by kluster.ai Verify against the documents it
was given. A hallucinated answer goes back to the model with Verify's explanation (ModelRetry),
and the corrected answer is returned.
Run: python recipes/pydantic_ai/verified_answer.py   (no key needed: uses the emulator)
"""

from dataclasses import dataclass

from pydantic_ai import Agent

from kluster_agents.adapters.pydantic_ai import kluster_model, verify_output_validator
from kluster_agents.integrations import VerifyPolicy, kluster_backend


@dataclass
class Docs:
    context: str  # verify_output_validator checks answers against deps.context


POLICY = "Remote work: employees may work remotely up to 2 days per week, with manager approval."

with kluster_backend() as backend:
    policy = VerifyPolicy(on_hallucination="retry", max_retries=2)
    agent = Agent(
        kluster_model("klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"),
        deps_type=Docs,
        instructions="Answer from the HR policy only.",
        retries=3,
        metadata={},  # receives the final verdict under "kluster_verify"
    )
    agent.output_validator(verify_output_validator(policy))

    result = agent.run_sync("How many days per week can I work from home?", deps=Docs(POLICY))
    print("answer:", result.output)
    print("verdict:", result.metadata["kluster_verify"]["status"])
    print(policy.report)
