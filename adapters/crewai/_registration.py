"""kluster as a CrewAI provider name: `LLM(model="kluster/<model>")`, `Agent(llm="kluster/<model>")`,
a crew YAML's `llm: kluster/<model>` and `embedder={"provider": "kluster", "config": {...}}`.

CrewAI has no registry for LLM providers: `LLM.__new__` asks `LLM._resolve_route` where a model
string goes, and a prefix it does not know falls through to LiteLLM. Two hooks, both installed
once when `kluster_agents.adapters.crewai` is imported:

- `LLM._resolve_route` answers "kluster" for `kluster/<model>` (or `provider="kluster"`), so CrewAI's
  own helpers that ask where a model goes agree with what is built;
- `LLM.__new__` builds `KlusterCompletion` for that route itself: CrewAI would wrap any error of a
  native class in an ImportError, and ours are typed (a missing key is a `KlusterConfigError`).
  `is_litellm=True` still goes to LiteLLM; an `llm_overlay` does not remap kluster models.

Embedders do have a registry (`PROVIDER_PATHS`, read by `build_embedder`, which memory uses), but
`Crew`, `Agent`, `Knowledge` and `KnowledgeStorage` validate `embedder=` dicts against a closed union
of provider specs: their `embedder` field is widened by `KlusterProviderSpec` and the model rebuilt.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, cast

from crewai import LLM, Agent, Crew
from crewai.knowledge.knowledge import Knowledge
from crewai.knowledge.storage.knowledge_storage import KnowledgeStorage
from crewai.rag.embeddings.factory import PROVIDER_PATHS
from typing_extensions import TypedDict

PROVIDER = "kluster"
_EMBEDDINGS_PROVIDER_PATH = "kluster_agents.adapters.crewai._embeddings.KlusterEmbeddingsProvider"


class KlusterProviderSpec(TypedDict, total=False):
    """`embedder={"provider": "kluster", "config": {"model_name": ..., "base_url": ...}}`."""

    provider: Literal["kluster"]
    config: dict[str, Any]


class _KlusterRoute(NamedTuple):
    """The shape of CrewAI's route tuple (provider, model, native class, custom_openai)."""

    provider: str
    model: str
    native_class: Any
    custom_openai: bool


def kluster_model_of(model: Any, kwargs: dict[str, Any]) -> str | None:
    """The kluster model a `LLM(model, **kwargs)` call names, or None when it is not a kluster one."""
    if not isinstance(model, str):
        return None
    prefix, separator, rest = model.partition("/")
    if separator and rest and prefix.lower() == PROVIDER:
        return rest
    if str(kwargs.get("provider") or "").lower() == PROVIDER:
        return model
    return None


def register() -> None:
    """Install the hooks (idempotent)."""
    _register_llm_route()
    _register_embedder()


def _register_llm_route() -> None:
    if getattr(LLM._resolve_route, "_kluster", False):
        return
    resolve: Any = LLM.__dict__["_resolve_route"].__func__
    new: Any = LLM.__dict__["__new__"]

    def _resolve_route(cls: type[LLM], model: str, kwargs: dict[str, Any]) -> Any:
        kluster_model = kluster_model_of(model, kwargs)
        if kluster_model is None:
            return resolve(cls, model, kwargs)
        from kluster_agents.adapters.crewai._chat_model import KlusterCompletion

        return _KlusterRoute(PROVIDER, kluster_model, KlusterCompletion, False)

    def __new__(cls: type[LLM], model: str, is_litellm: bool = False, **kwargs: Any) -> Any:
        route = None if is_litellm else cls._resolve_route(model, kwargs)
        if route is None or route.provider != PROVIDER:
            return new(cls, model, is_litellm, **kwargs)
        params = {k: v for k, v in kwargs.items() if k not in ("provider", "custom_openai")}
        build: Any = route.native_class  # KlusterCompletion, imported on the first kluster route
        return build(model=route.model, **params)

    _resolve_route._kluster = True  # type: ignore[attr-defined]
    LLM._resolve_route = classmethod(_resolve_route)  # type: ignore[assignment,method-assign]
    LLM.__new__ = staticmethod(__new__)  # type: ignore[method-assign]


def _register_embedder() -> None:
    if PROVIDER_PATHS.get(PROVIDER) == _EMBEDDINGS_PROVIDER_PATH:
        return
    PROVIDER_PATHS[PROVIDER] = _EMBEDDINGS_PROVIDER_PATH
    for model in (KnowledgeStorage, Knowledge, Agent, Crew):
        field = model.model_fields["embedder"]
        field.annotation = cast(Any, field.annotation | KlusterProviderSpec)
        model.model_rebuild(force=True)
