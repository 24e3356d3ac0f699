"""Embedding requests are checked once, before the network, by the kluster client's `embeddings`."""

from __future__ import annotations

import httpx
import pytest
import respx

from kluster_agents.integrations._api.client import make_client
from kluster_agents.integrations._api.embeddings import prepare_embedding_request
from kluster_agents.integrations._api.errors import KlusterInvalidRequestError, KlusterUnsupportedError


def test_alias_resolves_and_matching_dimensions_are_dropped() -> None:
    request = prepare_embedding_request({"model": "bge-m3", "input": ("a", "b"), "dimensions": 1024, "user": None})
    assert request == {"model": "BAAI/bge-m3", "input": ["a", "b"]}


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"model": "llama-3.3-70b", "input": "x"}, KlusterUnsupportedError, "not an embedding model"),
        ({"model": "ft:meta-llama:Llama-3.1-8B-Instruct:me:1", "input": "x"}, KlusterUnsupportedError, "chat model"),
        ({"model": "bge-m3", "input": "x", "dimensions": 256}, KlusterUnsupportedError, "1024-dimensional"),
        ({"model": "bge-m3", "input": "x", "encoding_format": "int8"}, KlusterUnsupportedError, "base64"),
        ({"model": "bge-m3", "input": [[1, 2, 3]]}, KlusterInvalidRequestError, "token ids"),
        ({"model": "bge-m3", "input": []}, KlusterInvalidRequestError, "non-empty"),
        ({"input": "x"}, KlusterInvalidRequestError, "No model"),
    ],
)
def test_refusals_name_the_fix(params: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        prepare_embedding_request(params)


def test_unknown_names_pass_for_dedicated_endpoints() -> None:
    assert prepare_embedding_request({"model": "my-endpoint-7f3a", "input": "x"})["model"] == "my-endpoint-7f3a"


@respx.mock
def test_client_refuses_before_the_network_and_sends_checked_body() -> None:
    route = respx.post("https://api.kluster.ai/v1/embeddings").mock(
        return_value=httpx.Response(
            200,
            json={
                "object": "list",
                "model": "BAAI/bge-m3",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.6, 0.8]}],
                "usage": {"prompt_tokens": 3, "total_tokens": 3},
            },
        )
    )
    client = make_client(api_key="test-key")
    with pytest.raises(KlusterUnsupportedError):
        client.embeddings.create(model="llama-3.3-70b", input="x")
    assert not route.called
    result = client.embeddings.create(model="bge-m3", input="x", encoding_format="float", dimensions=1024)
    assert result.data[0].embedding == [0.6, 0.8]
    sent = route.calls.last.request
    assert b'"model":"BAAI/bge-m3"' in sent.content.replace(b" ", b"") and b"dimensions" not in sent.content
