"""RAG with kluster.ai embeddings through LiteLLM: `litellm.embedding(model="kluster/BAAI/bge-m3")`
for the documents and the question, cosine similarity to retrieve, `litellm.completion` to answer.

Run: uv run python recipes/litellm/rag_embeddings.py  (no key: runs on the built-in emulator)
"""

import math
import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # kluster's models come from our catalog

import litellm

from kluster_agents.adapters.litellm import register
from kluster_agents.integrations import kluster_backend

EMBEDDING_MODEL = "kluster/BAAI/bge-m3"
CHAT_MODEL = "kluster/klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
DOCS = [
    "The Eiffel Tower was completed in 1889 for the World's Fair in Paris.",
    "Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar.",
    "Mount Everest, at 8,849 metres, is the highest mountain above sea level.",
    "The Python programming language was created by Guido van Rossum.",
]


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


with kluster_backend():
    register()
    indexed = litellm.embedding(model=EMBEDDING_MODEL, input=DOCS)
    vectors = [item["embedding"] for item in indexed.data]
    print(f"indexed {len(DOCS)} documents: {len(vectors[0])} dims, {indexed.usage.prompt_tokens} tokens")

    question = "Who created the Python language?"
    query = litellm.embedding(model=EMBEDDING_MODEL, input=question).data[0]["embedding"]
    ranked = sorted(zip(DOCS, vectors, strict=True), key=lambda pair: -cosine(query, pair[1]))
    context = [doc for doc, _ in ranked[:2]]
    for doc in context:
        print("retrieved:", doc)

    response = litellm.completion(
        model=CHAT_MODEL,
        messages=[
            {"role": "system", "content": "Answer in one sentence using only this context:\n" + "\n".join(context)},
            {"role": "user", "content": question},
        ],
    )
    print("answer:", response.choices[0].message.content)
