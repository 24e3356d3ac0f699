"""`POST /v1/embeddings` through the plain openai SDK: the observed bge-m3 shape (1024 floats,
usage), batch input, both encodings, similarity that makes retrieval meaningful, and errors."""

from __future__ import annotations

import base64
import math
import struct

import httpx
import openai
import pytest

from .helpers import LLAMA_8B, user

BGE = "BAAI/bge-m3"
DOCS = [
    "The Eiffel Tower in Paris was completed in 1889.",
    "Photosynthesis lets plants turn sunlight into chemical energy.",
    "Python is a programming language created by Guido van Rossum.",
    "Mount Everest is the highest mountain above sea level.",
    "The Great Wall of China is thousands of kilometres long.",
]


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_float_vectors_have_the_observed_shape(client: openai.OpenAI) -> None:
    raw = client.embeddings.with_raw_response.create(model=BGE, input="What is retrieval?", encoding_format="float")
    body = raw.http_response.json()
    assert body["object"] == "list" and body["model"] == BGE and body["kluster_emulated"] is True
    (item,) = body["data"]
    assert item["object"] == "embedding" and item["index"] == 0
    assert len(item["embedding"]) == 1024 and all(isinstance(x, float) for x in item["embedding"])
    assert math.isclose(math.sqrt(sum(x * x for x in item["embedding"])), 1.0, rel_tol=1e-9)
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0


def test_batch_input_keeps_order_and_sums_usage(client: openai.OpenAI) -> None:
    batch = client.embeddings.create(model=BGE, input=DOCS, encoding_format="float")
    assert [d.index for d in batch.data] == list(range(len(DOCS)))
    singles = [client.embeddings.create(model=BGE, input=doc, encoding_format="float") for doc in DOCS]
    assert [d.embedding for d in batch.data] == [s.data[0].embedding for s in singles]
    assert batch.usage.prompt_tokens == sum(s.usage.prompt_tokens for s in singles)
    # Observed: 29 tokens for one sentence, 64 for a batch of 5 -> same order of magnitude here.
    assert 5 < singles[0].usage.prompt_tokens < 40 and 30 < batch.usage.prompt_tokens < 150


def test_sdk_default_base64_decodes_to_the_float_vector(client: openai.OpenAI) -> None:
    as_float = client.embeddings.create(model=BGE, input="same text", encoding_format="float").data[0].embedding
    via_sdk = client.embeddings.create(model=BGE, input="same text").data[0].embedding  # SDK asks for base64
    assert via_sdk == pytest.approx(as_float, abs=1e-6)


def test_explicit_base64_is_little_endian_float32(kluster_emulator) -> None:
    response = httpx.post(
        f"{kluster_emulator.base_url}/embeddings",
        json={"model": BGE, "input": ["a", "b"], "encoding_format": "base64"},
        headers={"Authorization": f"Bearer {kluster_emulator.api_key}"},
    )
    assert response.status_code == 200
    encoded = response.json()["data"][1]["embedding"]
    assert isinstance(encoded, str)
    assert len(struct.unpack("<1024f", base64.b64decode(encoded))) == 1024


def test_deterministic_and_similar_texts_are_closer(client: openai.OpenAI) -> None:
    vectors = [d.embedding for d in client.embeddings.create(model=BGE, input=DOCS, encoding_format="float").data]
    again = client.embeddings.create(model=BGE, input=DOCS[0], encoding_format="float").data[0].embedding
    assert again == vectors[0]
    queries = {
        "When was the Eiffel tower finished?": 0,
        "How do plants make energy from sunlight?": 1,
        "Who created the Python language?": 2,
        "What is the tallest mountain?": 3,
    }
    for query, expected in queries.items():
        q = client.embeddings.create(model=BGE, input=query, encoding_format="float").data[0].embedding
        ranked = sorted(range(len(DOCS)), key=lambda i: -_cos(q, vectors[i]))
        assert ranked[0] == expected, query


async def test_async_client(aclient: openai.AsyncOpenAI) -> None:
    result = await aclient.embeddings.create(model=BGE, input=["x", "y"])
    assert len(result.data) == 2 and len(result.data[0].embedding) == 1024


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.embeddings.create(model="nope/embedder", input="x")
    assert info.value.body["param"] == "model"


def test_chat_model_is_400_on_embeddings_and_embedding_model_400_on_chat(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="not an embedding model"):
        client.embeddings.create(model=LLAMA_8B, input="x")
    with pytest.raises(openai.BadRequestError, match="embedding model"):
        client.chat.completions.create(model=BGE, messages=user("hi"))


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"input": []}, "input"),
        ({"input": [1, 2, 3]}, "input"),
        ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "x", "dimensions": 256}, "dimensions"),
        ({"input": "word " * 40_000}, "input"),
    ],
)
def test_bad_requests_are_400(client: openai.OpenAI, extra: dict, param: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.post("/embeddings", body={"model": BGE, **extra}, cast_to=httpx.Response)
    assert info.value.body["param"] == param


@pytest.mark.kluster_emulator(mode="lenient")
def test_lenient_mode_ignores_dimensions(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model=BGE, input="x", dimensions=256)
    assert len(result.data[0].embedding) == 1024


def test_bad_key_is_401(kluster_emulator) -> None:
    bad = openai.OpenAI(base_url=kluster_emulator.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.embeddings.create(model=BGE, input="x")


def test_models_listing_includes_the_embedding_model(client: openai.OpenAI) -> None:
    assert BGE in {m.id for m in client.models.list()}
