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
    chunks = 0
    for chunk in llm.stream("Name three rivers of Nepal."):
        print(chunk.text, end="", flush=True)
        chunks += 1
    print(f"\n({chunks} chunks; streams carry no usage because kluster.ai does not accept stream_options)")

    async def main() -> None:
        answers = await asyncio.gather(*(llm.ainvoke(f"Capital of {c}?") for c in ("Nepal", "Peru")))
        for answer in answers:
            print("async:", answer.text)

    asyncio.run(main())
