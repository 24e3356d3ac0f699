"""RAG with a verified answer: retrieve context, answer from it, check the answer against that
context with kluster.ai Verify, and retry with Verify's explanation when it is flagged.
Run: uv run python recipes/langchain/rag_verified.py   (no key needed: uses the emulator)
"""

from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate

from kluster_agents.adapters.langchain import ChatKluster, with_verification
from kluster_agents.integrations import VerifyPolicy, kluster_backend

DOCS = [
    Document(page_content="The Eiffel Tower is 330 metres tall including its antennas."),
    Document(page_content="The Eiffel Tower was completed in 1889 for the World's Fair in Paris."),
    Document(page_content="Mount Everest is 8,849 metres high."),
]


def retrieve(question: str, k: int = 2) -> list[Document]:
    """A tiny keyword retriever (swap in any LangChain retriever)."""
    words = {w.strip("?.,").lower() for w in question.split()}
    return sorted(DOCS, key=lambda d: -len(words & set(d.page_content.lower().split())))[:k]


with kluster_backend() as backend:
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Answer in one sentence using only this context:\n{context}"),
            ("human", "{question}"),
        ]
    )
    llm = ChatKluster(model="klusterai/Meta-Llama-3.3-70B-Instruct-Turbo", temperature=0)
    policy = VerifyPolicy(on_hallucination="retry", max_retries=2)
    answer_chain = with_verification(prompt | llm, policy, context="context")

    question = "How tall is the Eiffel Tower?"
    context = retrieve(question)
    print("retrieved:", [d.page_content[:40] + "..." for d in context])
    answer = answer_chain.invoke({"question": question, "context": context})
    verdict = answer.response_metadata["kluster_verify"]
    print("answer:", answer.text)
    print(f"verify: {verdict['status']} after {verdict['retries']} retr{'y' if verdict['retries'] == 1 else 'ies'}")
    print("explanation:", verdict["explanation"])
    print(policy.report)
