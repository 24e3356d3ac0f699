"""Chat with kluster.ai through LangChain: one call, a streamed answer, and the async API.
Run: uv run python recipes/langchain/chat_streaming.py   (no key needed: uses the emulator)
"""

import asyncio

from kluster_agents.adapters.langchain import ChatKluster
from kluster_agents.integrations import kluster_backend

with kluster_backend() as backend:
    llm = ChatKluster(model="klusterai/Meta-Llama-3.3-70B-Instruct-Turbo", temperature=0, max_tokens=200)

    reply = llm.invoke([("system", "You are a concise travel guide."), ("human", "One fact about Kathmandu?")])
    print("answer:", reply.text)
    print("usage:", reply.usage_metadata)
    meta = reply.response_metadata
    print("finish_reason:", meta["finish_reason"], "| stop_reason:", meta.get("stop_reason"))

    print("streamed: ", end="")
    chunks, full = 0, None
    for chunk in llm.stream("Name three rivers of Nepal."):
        print(chunk.text, end="", flush=True)
        chunks += 1
        full = chunk if full is None else full + chunk
    estimated = full is not None and full.response_metadata.get("usage_estimated")
    usage = full.usage_metadata if full is not None else None
    print(
        f"\n({chunks} chunks; stream usage{' (estimated)' if estimated else ''}: {usage and usage['total_tokens']} tokens)"
    )

    async def main() -> None:
        answers = await asyncio.gather(*(llm.ainvoke(f"Capital of {c}?") for c in ("Nepal", "Peru")))
        for answer in answers:
            print("async:", answer.text)

    asyncio.run(main())
