"""RAG with kluster.ai embeddings in PydanticAI: an `Embedder` on BAAI/bge-m3 indexes documents,
the question's vector retrieves the closest ones, and an agent answers from them.
Run: python recipes/pydantic_ai/rag_embeddings.py   (no key needed: uses the emulator)
"""

from pydantic_ai import Agent

from kluster_agents.adapters.pydantic_ai import kluster_embedder, kluster_model
from kluster_agents.integrations import kluster_backend

DOCS = [
    "The Eiffel Tower was completed in 1889 for the World's Fair in Paris.",
    "Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar.",
    "Mount Everest, at 8,849 metres, is the highest mountain above sea level.",
    "The Python programming language was created by Guido van Rossum.",
]

with kluster_backend():
    embedder = kluster_embedder("kluster:BAAI/bge-m3")
    indexed = embedder.embed_documents_sync(DOCS)
    print(f"indexed {len(DOCS)} documents: {len(indexed.embeddings[0])} dims, {indexed.usage.input_tokens} tokens")

    question = "What is the highest mountain in the world?"
    (query,) = embedder.embed_query_sync(question).embeddings
    scores = [sum(q * d for q, d in zip(query, doc, strict=True)) for doc in indexed.embeddings]  # unit vectors
    best = sorted(range(len(DOCS)), key=lambda i: -scores[i])[:2]
    for i in best:
        print(f"retrieved ({scores[i]:.2f}): {DOCS[i]}")

    agent = Agent(
        kluster_model("kluster:llama-3.3-70b"),
        instructions="Answer in one sentence using only this context:\n" + "\n".join(DOCS[i] for i in best),
    )
    print("answer:", agent.run_sync(question).output)
