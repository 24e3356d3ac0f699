"""A LiteLLM post-call guardrail that checks every async answer with kluster.ai Verify: a flagged
answer is regenerated with Verify's explanation as feedback, and the verdict is attached.

Run: uv run python recipes/litellm/verify_guardrail.py  (no key: runs on the built-in emulator,
scripted to answer wrongly first; its Verify is a labelled heuristic, not a fact check)
"""

import asyncio
import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # kluster's models come from our catalog

import litellm

from kluster_agents.adapters.litellm import KlusterVerifyGuardrail, register, verify_result
from kluster_agents.integrations import kluster_backend

MODEL = "kluster/klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
QUESTION = [{"role": "user", "content": "Where is the Eiffel Tower?"}]

with kluster_backend() as backend:
    litellm.suppress_debug_info = True
    register()
    guardrail = KlusterVerifyGuardrail(on_hallucination="retry", max_retries=2)
    litellm.callbacks = [guardrail]  # runs after every acompletion / Router.acompletion

    async def main() -> None:
        response = await litellm.acompletion(model=MODEL, messages=QUESTION)
        verdict = verify_result(response)
        print("answer:", response.choices[0].message.content)
        print(f"verify: {verdict.status} (emulated={verdict.emulated}) — {verdict.explanation[:120]}")

    asyncio.run(main())
    print(guardrail.policy.report)
