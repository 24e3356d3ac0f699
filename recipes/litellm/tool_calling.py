"""Tool calling through litellm with a kluster model: the model asks for a tool, we run it, send
the result back, and the model answers with it. A model without tools is refused up front.

Run: uv run python recipes/litellm/tool_calling.py  (no key: runs on the built-in emulator)
"""

import json
import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # kluster's models come from our catalog

import litellm

from kluster_agents.adapters.litellm import register
from kluster_agents.integrations import KlusterUnsupportedError, kluster_backend

MODEL = "kluster/klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "multiply",
            "description": "Multiply two integers",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                "required": ["a", "b"],
            },
        },
    }
]


def multiply(a: int, b: int) -> int:
    return a * b


with kluster_backend() as backend:
    litellm.suppress_debug_info = True
    register()
    messages = [{"role": "user", "content": "What is 1337 multiplied by 42? Use the multiply tool."}]
    first = litellm.completion(model=MODEL, messages=messages, tools=TOOLS, tool_choice="auto")
    message = first.choices[0].message
    messages.append(message.model_dump(exclude_none=True))
    for call in message.tool_calls or []:
        args = json.loads(call.function.arguments)
        result = multiply(**args)
        print(f"model called {call.function.name}({args}) -> {result}")
        messages.append({"role": "tool", "tool_call_id": call.id, "content": str(result)})

    final = litellm.completion(model=MODEL, messages=messages, tools=TOOLS)
    print("final answer:", final.choices[0].message.content)

    no_tools = "kluster/google/gemma-3-27b-it"
    print(f"{no_tools} supports function calling: {litellm.supports_function_calling(no_tools)}")
    try:
        litellm.completion(model=no_tools, messages=messages[:1], tools=TOOLS)
    except KlusterUnsupportedError as exc:
        print(f"refused before the network: {exc.parameter!r} on {exc.model}")
