"""LangChain's standard conformance suites for `ChatKluster`.

Unit suite: construction, env config, tool binding, structured-output wiring, tracing params,
serialisation. Integration suite: against the embedded kluster emulator (the documented
response shapes, strict fidelity mode: documented-unsupported parameters answer 400).
Feature flags come from the model catalog; anything skipped or xfailed here is a kluster
endpoint limitation, listed in recipes/langchain/README.md.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from kluster_agents.adapters.langchain import ChatKluster
from kluster_agents.integrations._api.catalog import get_model
from kluster_agents.integrations.emulator import ToolCall

TOOL_MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
OTHER_TOOL_MODEL = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"
INFO = get_model(TOOL_MODEL)


class TestChatKlusterUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatKluster]:
        return ChatKluster

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": TOOL_MODEL}

    @property
    def structured_output_kwargs(self) -> dict[str, Any]:
        return {"method": "function_calling"}

    @property
    def supports_image_inputs(self) -> bool:
        return INFO.vision

    @pytest.mark.xfail(
        strict=True,
        reason="not an endpoint limitation: langchain-core 1.7's load(allowed_objects='all') admits only classes "
        "in its built-in mapping, so no out-of-tree model can pass; the same round trip with "
        "allowed_objects=[ChatKluster] is tested in test_langchain_chat.py",
    )
    def test_serdes(self, model: Any, snapshot: Any) -> None:
        super().test_serdes(model, snapshot)

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"KLUSTER_API_KEY": "key-from-env", "KLUSTER_BASE_URL": "https://kluster.example/v1"},
            {"model": TOOL_MODEL},
            {"openai_api_key": "key-from-env", "openai_api_base": "https://kluster.example/v1"},
        )


# The emulator derives tool arguments from prompt keywords, not from meaning. These tests check
# that one specific model answer (the one a real model gives) round-trips through ChatKluster
# (invoke, stream, async), so that answer is scripted; everything else is the emulator's own.
SCRIPTED_ANSWERS = {
    "test_tool_calling": [ToolCall("magic_function", {"input": 3})] * 2,
    "test_tool_calling_async": [ToolCall("magic_function", {"input": 3})] * 2,
    "test_unicode_tool_call_integration": [
        ToolCall("unicode_customer", {"customer_name": "你好啊集团", "description": "Chinese technology company"}),
        ToolCall("unicode_customer", {"customer_name": "こんにちは株式会社", "description": "Japanese company"}),
    ],
}


# kluster rejects a message `name`: the adapter drops it and warns (KlusterCompatWarning), which
# test_message_with_name triggers; the warning itself is asserted in test_langchain_chat.py.
NAME_DROP_EXPECTED = pytest.mark.filterwarnings("ignore:kluster-agents. dropped unsupported message field `name`")


@NAME_DROP_EXPECTED
class TestChatKlusterIntegration(ChatModelIntegrationTests):
    @pytest.fixture(autouse=True)
    def _emulator(self, kluster_emulator: Any, request: pytest.FixtureRequest) -> None:
        self.emulator = kluster_emulator
        for answer in SCRIPTED_ANSWERS.get(request.node.originalname, []):
            kluster_emulator.controls.script(answer)

    @property
    def chat_model_class(self) -> type[ChatKluster]:
        return ChatKluster

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": TOOL_MODEL, "api_key": self.emulator.api_key, "base_url": self.emulator.base_url}

    @property
    def structured_output_kwargs(self) -> dict[str, Any]:
        return {"method": "function_calling"}

    @property
    def supports_json_mode(self) -> bool:
        return True  # method="json_mode" is served by prompted JSON (+ validation), never response_format

    @property
    def supports_image_inputs(self) -> bool:
        return INFO.vision

    @property
    def supports_image_urls(self) -> bool:
        return INFO.vision

    @property
    def model_override_value(self) -> str:
        return OTHER_TOOL_MODEL


TEXT_MODEL = "mistralai/Mistral-Nemo-Instruct-2407"  # no tools, no vision (catalog)


@NAME_DROP_EXPECTED
class TestChatKlusterNoToolsIntegration(ChatModelIntegrationTests):
    """The same suite on a model without tool calling: structured output by prompted JSON."""

    @pytest.fixture(autouse=True)
    def _emulator(self, kluster_emulator: Any) -> None:
        self.emulator = kluster_emulator

    @property
    def chat_model_class(self) -> type[ChatKluster]:
        return ChatKluster

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": TEXT_MODEL, "api_key": self.emulator.api_key, "base_url": self.emulator.base_url}

    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_tool_choice(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return True  # prompted JSON

    @property
    def structured_output_kwargs(self) -> dict[str, Any]:
        return {"method": "json_schema"}

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "mistralai/Mistral-Small-24B-Instruct-2501"
