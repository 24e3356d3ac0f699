"""RAG with kluster.ai embeddings in CrewAI: a `Knowledge` store embedded with BAAI/bge-m3
(`kluster_embedder()`), retrieval by vector similarity, and an agent that answers from it.
Run: uv run python recipes/crewai/rag_embeddings.py   (no key needed: uses the emulator)
"""

import os
import tempfile

# CrewAI reports usage unless told not to; this must happen before crewai is imported.
os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_DISABLE_TRACKING", "true")
# Keep this demo's vector store out of your CrewAI data directory.
os.environ.setdefault("CREWAI_STORAGE_DIR", tempfile.mkdtemp(prefix="kluster-rag-"))

from crewai import Agent, Crew, Task
from crewai.knowledge.knowledge import Knowledge
from crewai.knowledge.source.string_knowledge_source import StringKnowledgeSource

from kluster_agents.adapters.crewai import kluster_embedder, kluster_llm
from kluster_agents.integrations import kluster_backend

DOCS = [
    "The Eiffel Tower was completed in 1889 for the World's Fair in Paris.",
    "Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar.",
    "Mount Everest, at 8,849 metres, is the highest mountain above sea level.",
    "The Python programming language was created by Guido van Rossum.",
]

with kluster_backend():
    knowledge = Knowledge(
        collection_name="facts",
        sources=[StringKnowledgeSource(content=doc) for doc in DOCS],
        embedder=kluster_embedder("BAAI/bge-m3"),
    )
    knowledge.add_sources()
    print(f"indexed {len(DOCS)} documents with BAAI/bge-m3")

    question = "When was the Eiffel Tower completed?"
    hits = knowledge.query([question], results_limit=2)
    for hit in hits:
        print("retrieved:", hit["content"])

    context = "\n".join(hit["content"] for hit in hits)
    expert = Agent(
        role="Librarian",
        goal="Answer questions from the retrieved documents only",
        backstory="You answer in one sentence and never go beyond the documents.",
        llm=kluster_llm("klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"),
    )
    task = Task(
        description=f"Documents:\n{context}\n\nQuestion: {question}",
        expected_output="A one-sentence answer.",
        agent=expert,
    )
    print("answer:", Crew(agents=[expert], tasks=[task]).kickoff().raw)
