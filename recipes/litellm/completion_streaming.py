"""litellm.completion with model="kluster/<id>": plain, streamed and async calls, model info from
the kluster catalog, and a parameter kluster.ai does not accept refused before the network.

Run: uv run python recipes/litellm/completion_streaming.py  (no key: runs on the built-in emulator)
"""

import asyncio
import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # kluster's models come from our catalog

import litellm

from kluster_agents.adapters.litellm import register
from kluster_agents.integrations import KlusterUnsupportedError, kluster_backend

MODEL = "kluster/klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
QUESTION = [{"role": "user", "content": "In one sentence, what is the Batch API good for?"}]

with kluster_backend() as backend:
    if backend.emulated:  # offline: count streamed tokens with tiktoken instead of downloading a tokenizer
        litellm.disable_hf_tokenizer_download = True
    litellm.suppress_debug_info = True
    register()  # kluster/<model> now routes through kluster-agents (compat, catalog, our client)

    info = litellm.get_model_info(MODEL)
    print(
        f"model info: context {info['max_input_tokens']}, max output {info['max_output_tokens']}, "
        f"tools={litellm.supports_function_calling(MODEL)}, vision={litellm.supports_vision(MODEL)}"
    )

    response = litellm.completion(model=MODEL, messages=QUESTION, max_tokens=100)  # sent as max_completion_tokens
    print("completion:", response.choices[0].message.content)
    print("usage:", response.usage.prompt_tokens, "prompt +", response.usage.completion_tokens, "completion tokens")

    print("stream: ", end="")
    for chunk in litellm.completion(model=MODEL, messages=QUESTION, stream=True):
        print(chunk.choices[0].delta.content or "", end="", flush=True)
    print()

    async def ask_async() -> str:
        answer = await litellm.acompletion(model=MODEL, messages=QUESTION)
        return answer.choices[0].message.content

    print("acompletion:", asyncio.run(ask_async()))

    try:
        litellm.completion(model=MODEL, messages=QUESTION, n=3)
    except KlusterUnsupportedError as exc:  # also a litellm.BadRequestError
        print(f"refused before any request was sent: {type(exc).__name__} (parameter {exc.parameter!r})")
