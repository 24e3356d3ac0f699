"""kluster's answers as LiteLLM's response objects: a chat completion or embedding body with its
headers (which LiteLLM's Router reads), an unreadable 200 turned into a typed error, and a batch
answer's cost at the batch price."""

from __future__ import annotations

from typing import Any, cast

from litellm.types.utils import EmbeddingResponse, ModelResponse
from litellm.utils import convert_to_model_response_object

from kluster_agents.adapters.litellm._errors import as_litellm_error
from kluster_agents.adapters.litellm._model_map import model_name
from kluster_agents.integrations._api.errors import KlusterResponseError
from kluster_agents.integrations._api.prices import cost_of

COST_HEADER = "llm_provider-x-litellm-response-cost"


def with_batch_cost(response: ModelResponse, cost: float | None = None) -> ModelResponse:
    """An answer served by a batch job (Batch API line, adaptive request) with its batch-price cost,
    as a provider-reported cost LiteLLM's cost tracking takes over its own per-token figure, and as
    `_hidden_params["response_cost"]`. Without a batch price nothing is set (`api.prices`)."""
    usage = getattr(response, "usage", None)
    if cost is None and usage is not None and response.model:
        cost = cost_of(model_name(response.model), usage, mode="batch")
    if cost is not None:
        response._hidden_params.setdefault("additional_headers", {})[COST_HEADER] = cost
        response._hidden_params["response_cost"] = cost
    return response


def to_embedding_response(raw: Any, model_response: EmbeddingResponse) -> EmbeddingResponse:
    """A raw `embeddings.create` response filled into LiteLLM's `EmbeddingResponse`."""
    # LiteLLM leaves the return unannotated: it is the response type asked for.
    return cast(
        EmbeddingResponse,
        convert_to_model_response_object(
            response_object=raw.http_response.json(),
            model_response_object=model_response,
            response_type="embedding",
            _response_headers=dict(raw.headers),
        ),
    )


def to_model_response(raw: Any, model_response: ModelResponse) -> ModelResponse:
    """A raw `chat.completions.create` response filled into LiteLLM's `ModelResponse`; a 200 whose body is
    not a chat completion is a typed error here, not an `AttributeError` deep inside LiteLLM."""
    try:
        body = raw.http_response.json()
    except ValueError:
        error = KlusterResponseError(
            "kluster.ai answered 200 with a body that is not JSON — retry the request; if it persists, "
            "check the api_base points at the kluster API (…/v1)."
        )
        raise as_litellm_error(error, model_response.model) from None
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
        error = KlusterResponseError("kluster.ai answered 200 with a chat completion that has no `choices` list.")
        raise as_litellm_error(error, model_response.model) from None
    return body_to_model_response(body, raw.headers, model_response)


def body_to_model_response(body: dict[str, Any], headers: Any, model_response: ModelResponse) -> ModelResponse:
    """A chat completion body we built or checked (structured or adaptive answers) as a `ModelResponse`."""
    return cast(
        ModelResponse,
        convert_to_model_response_object(
            response_object=body, model_response_object=model_response, _response_headers=dict(headers)
        ),
    )
