"""RAG with kluster.ai embeddings: index documents with `KlusterEmbeddings` (BAAI/bge-m3) in a
LangChain vector store, retrieve by vector similarity, answer from the retrieved context.
Run: uv run python recipes/langchain/rag_embeddings.py   (no key needed: uses the emulator)
"""

from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.vectorstores import InMemoryVectorStore

from kluster_agents.adapters.langchain import ChatKluster, KlusterEmbeddings
from kluster_agents.integrations import kluster_backend

DOCS = [
    Document(page_content="The Eiffel Tower was completed in 1889 for the World's Fair in Paris."),
    Document(page_content="Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar."),
    Document(page_content="Mount Everest, at 8,849 metres, is the highest mountain above sea level."),
    Document(page_content="The Python programming language was created by Guido van Rossum."),
]

with kluster_backend():
    embeddings = KlusterEmbeddings(model="BAAI/bge-m3")
    store = InMemoryVectorStore.from_documents(DOCS, embeddings)
    print(f"indexed {len(DOCS)} documents with {embeddings.model} ({embeddings.model_info.dimensions} dims)")

    question = "How do plants make sugar from sunlight?"
    hits = store.similarity_search_with_score(question, k=2)
    for doc, score in hits:
        print(f"retrieved ({score:.2f}): {doc.page_content}")

    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer in one sentence using only this context:\n{context}"), ("human", "{question}")]
    )
    chain = prompt | ChatKluster(model="klusterai/Meta-Llama-3.3-70B-Instruct-Turbo", temperature=0)
    answer = chain.invoke({"question": question, "context": "\n".join(d.page_content for d, _ in hits)})
    print("answer:", answer.text)
