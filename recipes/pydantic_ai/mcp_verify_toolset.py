"""kluster.ai's Verify MCP tools (`verify`, `verify_document`) as a PydanticAI toolset: the agent
decides to check a claim and calls the cloud MCP endpoint through a real MCP session.
Run: python recipes/pydantic_ai/mcp_verify_toolset.py   (no key needed: uses the emulator)
"""

import asyncio

from pydantic_ai import Agent

from kluster_agents.adapters.pydantic_ai import kluster_mcp_toolset, kluster_model
from kluster_agents.integrations import kluster_backend, mcp

CLAIM = {
    "prompt": "Is the Great Wall of China visible from space?",
    "response": "Yes, the Great Wall of China is visible from space with the naked eye.",
}


async def main(backend) -> None:
    if not mcp.status(backend.settings).enabled:
        mcp.enable(backend.settings)  # one-time: creates your MCP token
    toolset = kluster_mcp_toolset(settings=backend.settings)  # token read from /v1/mcp/status
    agent = Agent(
        kluster_model("llama-3.3-70b"),
        toolsets=[toolset],
        instructions="Use the verify tool to fact-check claims, then report the verdict.",
    )
    async with agent:
        result = await agent.run(f"Is this claim true? {CLAIM['response']}")
    for message in result.all_messages():
        for part in message.parts:
            if part.part_kind == "tool-return":
                print(f"MCP tool {part.tool_name} -> is_hallucination={part.content['is_hallucination']}")
    print("answer:", result.output[:200])


with kluster_backend() as backend:
    asyncio.run(main(backend))
