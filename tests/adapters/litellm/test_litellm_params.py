"""What reaches the `kluster/` handler from LiteLLM's call: every OpenAI parameter (compat
decides), `drop_params` honoured, the catalog in `get_valid_models`, fine-tuned and dedicated
names in the model map."""

from __future__ import annotations

import warnings

import litellm
import pytest

from kluster_agents.adapters.litellm import LiteLLMKlusterUnsupportedError
from kluster_agents.integrations._api.catalog import list_models, register_model
from kluster_agents.integrations._api.compat import KlusterCompatWarning

from .conftest import GEMMA, LLAMA, WEATHER_TOOL, chat_bodies

HELLO = [{"role": "user", "content": "Say hello"}]
R1 = "deepseek-ai/DeepSeek-R1-0528"


def test_user_reaches_kluster(emulator):
    litellm.completion(model=f"kluster/{LLAMA}", messages=HELLO, user="user-42")
    assert chat_bodies(emulator)[-1]["user"] == "user-42"


def test_reasoning_effort_reaches_compat_and_is_dropped_with_its_warning(emulator):
    with pytest.warns(KlusterCompatWarning, match="reasoning_effort"):
        litellm.completion(model=f"kluster/{R1}", messages=HELLO, reasoning_effort="low", user="u")
    body = chat_bodies(emulator)[-1]
    assert "reasoning_effort" not in body and body["user"] == "u"


def test_max_completion_tokens_is_sent_once(emulator):
    litellm.completion(model=f"kluster/{LLAMA}", messages=HELLO, max_completion_tokens=7)
    body = chat_bodies(emulator)[-1]
    assert body["max_completion_tokens"] == 7 and "max_tokens" not in body


@pytest.mark.parametrize("global_setting", [False, True])
def test_drop_params_drops_tools_on_a_model_without_tools(emulator, monkeypatch, global_setting):
    monkeypatch.setattr(litellm, "drop_params", global_setting or None)
    per_call = {} if global_setting else {"drop_params": True}
    with pytest.warns(KlusterCompatWarning, match="drop_params"):
        response = litellm.completion(
            model=f"kluster/{GEMMA}", messages=HELLO, tools=[WEATHER_TOOL], tool_choice="auto", **per_call
        )
    assert response.choices[0].message.content
    body = chat_bodies(emulator)[-1]
    assert "tools" not in body and "tool_choice" not in body


@pytest.mark.parametrize(
    ("params", "parameter"),
    [({"n": 2}, "n"), ({"response_format": {"type": "xml"}}, "response_format")],
)
def test_drop_params_drops_what_compat_would_refuse(emulator, params, parameter):
    with pytest.warns(KlusterCompatWarning, match=parameter):
        litellm.completion(model=f"kluster/{LLAMA}", messages=HELLO, drop_params=True, **params)
    assert parameter not in chat_bodies(emulator)[-1]


def test_without_drop_params_refusals_stay(emulator):
    with pytest.raises(LiteLLMKlusterUnsupportedError, match="tools"):
        litellm.completion(model=f"kluster/{GEMMA}", messages=HELLO, tools=[WEATHER_TOOL])
    with pytest.raises(LiteLLMKlusterUnsupportedError, match="n=2"):
        litellm.completion(model=f"kluster/{LLAMA}", messages=HELLO, n=2, drop_params=False)
    assert chat_bodies(emulator) == []


def test_drop_params_keeps_image_refusals(emulator):
    image = [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]
    with pytest.raises(LiteLLMKlusterUnsupportedError):
        litellm.completion(model=f"kluster/{LLAMA}", messages=[{"role": "user", "content": image}], drop_params=True)


def test_valid_models_list_the_catalog_with_the_prefix():
    names = litellm.get_valid_models(custom_llm_provider="kluster")
    assert f"kluster/{LLAMA}" in names and "kluster/BAAI/bge-m3" in names
    chat_and_embeddings = [m for m in list_models() if not m.verify]
    assert len(names) == len(chat_and_embeddings) and all(n.startswith("kluster/") for n in names)


def test_fine_tuned_names_get_their_base_models_capabilities():
    name = "kluster/ft:meta-llama:Llama-3.3-70B-Instruct-Turbo:personal:805b5d69"
    assert litellm.supports_function_calling(name) is True
    assert (
        litellm.get_model_info(name)["max_input_tokens"]
        == litellm.get_model_info(f"kluster/{LLAMA}")["max_input_tokens"]
    )


def test_registered_dedicated_endpoints_are_in_the_model_map():
    register_model("endpoint-7f3a", base=GEMMA)
    assert litellm.supports_vision("kluster/endpoint-7f3a") is True
    assert litellm.supports_function_calling("kluster/endpoint-7f3a") is False


def test_names_that_reveal_no_base_stay_unmapped():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert litellm.supports_function_calling("kluster/ft:someone:mystery-model:x:1") is False
