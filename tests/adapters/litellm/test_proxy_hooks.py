"""Which Verify guardrail hook runs on the proxy, checked in the default environment (the real proxy
process is in test_proxy_server.py, which needs the litellm-proxy extra)."""

from __future__ import annotations

import litellm
import pytest

from kluster_agents.adapters.litellm import KlusterVerifyGuardrail
from kluster_agents.integrations._verify.policy import HallucinationDetected

from .conftest import LLAMA

QUESTION = [{"role": "user", "content": "Where is the Eiffel Tower?"}]
WRONG = "The Eiffel Tower is in Rome."


async def test_deployment_hook_stands_aside_on_proxy_requests(emulator, monkeypatch):
    """Inside the proxy's Router a rejection from this hook would be an error LiteLLM 1.102 falls back
    on; the proxy's own post-call hook (after the Router) checks the answer instead."""
    monkeypatch.setattr(litellm, "callbacks", [])  # ProxyConfig.load_config (another test) leaves its guardrail there
    guardrail = KlusterVerifyGuardrail(max_retries=0)
    emulator.controls.script(WRONG)
    response = await litellm.acompletion(model=f"kluster/{LLAMA}", messages=QUESTION)
    proxy_request = {"model": LLAMA, "messages": QUESTION, "proxy_server_request": {"url": "/chat/completions"}}
    assert await guardrail.async_post_call_success_deployment_hook(proxy_request, response, None) is None
    assert emulator.controls.count("/verify/reliability") == 0

    sdk_request = {"model": LLAMA, "messages": QUESTION}
    with pytest.raises(HallucinationDetected):
        await guardrail.async_post_call_success_deployment_hook(sdk_request, response, None)
    assert emulator.controls.count("/verify/reliability") == 1
