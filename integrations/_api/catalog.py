"""The model catalog: every model in the docs' "Supported AI Models" page, its capabilities
and per-tier limits, plus lookups that accept aliases, fine-tuned names and endpoint IDs.

Source: kluster-docs `llms-full.txt`, "Supported AI Models" (model table, comparison table,
API request limits per plan). `None` in a limit means "Unlimited" (enterprise).
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Literal, TypedDict, Unpack

from pydantic import BaseModel, ConfigDict

from kluster_agents.integrations._api.tiers import Tier

if TYPE_CHECKING:
    import openai

    from kluster_agents.integrations._api.settings import KlusterSettings

ModelKind = Literal["catalog", "fine-tuned", "dedicated", "listed", "unknown"]


class TierLimits(BaseModel):
    """Limits of one model on one plan (tokens / requests)."""

    model_config = ConfigDict(frozen=True)

    context: int | None
    max_output: int | None
    max_batch_requests: int | None
    concurrency: int | None
    rpm: int | None
    hosted_fine_tuned: int | None = None


class ModelInfo(BaseModel):
    """What kluster.ai says (or we infer) about one model name."""

    model_config = ConfigDict(frozen=True)

    id: str
    display_name: str
    aliases: tuple[str, ...] = ()
    kind: ModelKind = "catalog"
    base_model: str | None = None
    realtime: bool = True
    batch: bool = True
    tools: bool = False
    fine_tuning: bool = False
    vision: bool = False
    reasoning: bool = False
    verify: bool = False
    embedding: bool = False
    """An embedding model (`POST /v1/embeddings`), not a chat model: chat code paths skip it."""
    dimensions: int | None = None
    """Length of an embedding model's vectors (fixed: kluster takes no `dimensions` parameter)."""
    limits: dict[Tier, TierLimits] = {}

    def limits_for(self, tier: Tier | str) -> TierLimits | None:
        """Limits on `tier`, or None when they are not known (unknown models)."""
        return self.limits.get(tier if isinstance(tier, Tier) else Tier(tier))

    @property
    def is_llama(self) -> bool:
        return "llama" in self.id.lower() or "llama" in (self.base_model or "").lower()


def _k(text: str) -> int | None:
    """'32k' -> 32000, '1M' -> 1000000, 'Unlimited' -> None (as written in the docs' tables)."""
    text = text.strip()
    if text.lower() == "unlimited":
        return None
    mult = {"k": 1_000, "m": 1_000_000}.get(text[-1].lower(), 1)
    return int(float(text[:-1] if mult > 1 else text) * mult)


# (context, max output) per tier from the docs; trial is 32k/4k for every model.
_CORE_CTX: dict[str, tuple[str, str]] = {
    "deepseek-ai/DeepSeek-R1-0528": ("163k", "163k"),
    "deepseek-ai/DeepSeek-V3-0324": ("163k", "163k"),
    "google/gemma-3-27b-it": ("64k", "8k"),
    "mistralai/Magistral-Small-2506": ("40k", "40k"),
    "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo": ("131k", "131k"),
    "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo": ("131k", "131k"),
    "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8": ("1M", "1M"),
    "meta-llama/Llama-4-Scout-17B-16E-Instruct": ("131k", "131k"),
    "mistralai/Mistral-Nemo-Instruct-2407": ("131k", "131k"),
    "mistralai/Mistral-Small-24B-Instruct-2501": ("32k", "32k"),
    "Qwen/Qwen2.5-VL-7B-Instruct": ("32k", "32k"),
    "Qwen/Qwen3-235B-A22B-FP8": ("40k", "40k"),
    "klusterai/verify-reliability": ("100k", "0"),
}
# tier -> (max batch requests, concurrency, rpm, hosted fine-tuned models)
_TIER_QUOTAS: dict[Tier, tuple[str, str, str, str]] = {
    Tier.trial: ("1000", "20", "30", "1"),
    Tier.core: ("100k", "100", "600", "10"),
    Tier.scale: ("500k", "100", "1200", "25"),
    Tier.enterprise: ("Unlimited", "100", "Unlimited", "Unlimited"),
}


def _limits(model_id: str) -> dict[Tier, TierLimits]:
    ctx, out = _CORE_CTX[model_id]
    result = {}
    for tier, (batch, conc, rpm, hosted) in _TIER_QUOTAS.items():
        c, o = ("32k", "4k") if tier is Tier.trial else (ctx, out)
        result[tier] = TierLimits(
            context=_k(c),
            max_output=_k(o),
            max_batch_requests=_k(batch),
            concurrency=_k(conc),
            rpm=_k(rpm),
            hosted_fine_tuned=_k(hosted),
        )
    return result


class _Capabilities(TypedDict, total=False):
    """The capability flags of `ModelInfo` that a catalog entry may set."""

    realtime: bool
    batch: bool
    tools: bool
    fine_tuning: bool
    vision: bool
    reasoning: bool
    verify: bool


def _m(model_id: str, name: str, aliases: tuple[str, ...], **caps: Unpack[_Capabilities]) -> ModelInfo:
    return ModelInfo(id=model_id, display_name=name, aliases=aliases, limits=_limits(model_id), **caps)


# Embedding models are not in the docs' model table. Observed: the vendor's RAG notebook
# (kluster-ai/klusterai-cookbook `rag.ipynb`, executed against the live API) called
# `embeddings.create(model="BAAI/bge-m3", encoding_format="float")` and got 1024-dim vectors.
# Context: bge-m3's model card (8192 tokens); the plan quotas (batch size, RPM) are the plan's.
_EMBEDDING_CONTEXT = 8192


def _embedding(model_id: str, name: str, aliases: tuple[str, ...], dimensions: int) -> ModelInfo:
    limits = {
        tier: TierLimits(
            context=_EMBEDDING_CONTEXT,
            max_output=0,
            max_batch_requests=_k(batch),
            concurrency=_k(conc),
            rpm=_k(rpm),
        )
        for tier, (batch, conc, rpm, _hosted) in _TIER_QUOTAS.items()
    }
    return ModelInfo(
        id=model_id,
        display_name=name,
        aliases=aliases,
        batch=False,
        embedding=True,
        dimensions=dimensions,
        limits=limits,
    )


CATALOG: tuple[ModelInfo, ...] = (
    _m("deepseek-ai/DeepSeek-R1-0528", "DeepSeek-R1-0528", ("deepseek-r1", "deepseek-r1-0528", "r1"), reasoning=True),
    _m("deepseek-ai/DeepSeek-V3-0324", "DeepSeek-V3-0324", ("deepseek-v3", "deepseek-v3-0324", "v3"), tools=True),
    _m("google/gemma-3-27b-it", "Gemma 3 27B", ("gemma-3-27b", "gemma-3", "gemma"), vision=True),
    _m("mistralai/Magistral-Small-2506", "Magistral Small", ("magistral-small", "magistral"), reasoning=True),
    _m(
        "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo",
        "Meta Llama 3.1 8B",
        ("llama-3.1-8b", "llama3.1-8b", "llama-8b"),
        tools=True,
        fine_tuning=True,
    ),
    _m(
        "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo",
        "Meta Llama 3.3 70B",
        ("llama-3.3-70b", "llama3.3-70b", "llama-70b"),
        tools=True,
        fine_tuning=True,
    ),
    _m(
        "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
        "Meta Llama 4 Maverick",
        ("llama-4-maverick", "maverick"),
        vision=True,
    ),
    _m("meta-llama/Llama-4-Scout-17B-16E-Instruct", "Meta Llama 4 Scout", ("llama-4-scout", "scout"), vision=True),
    _m("mistralai/Mistral-Nemo-Instruct-2407", "Mistral NeMo", ("mistral-nemo", "nemo")),
    _m("mistralai/Mistral-Small-24B-Instruct-2501", "Mistral Small", ("mistral-small",)),
    _m("Qwen/Qwen2.5-VL-7B-Instruct", "Qwen2.5-VL 7B", ("qwen2.5-vl-7b", "qwen2.5-vl", "qwen-vl"), vision=True),
    _m("Qwen/Qwen3-235B-A22B-FP8", "Qwen3-235B-A22B", ("qwen3-235b", "qwen3"), tools=True, reasoning=True),
    _m(
        "klusterai/verify-reliability",
        "kluster reliability check",
        ("verify", "verify-reliability"),
        verify=True,
    ),
    _embedding("BAAI/bge-m3", "BGE-M3 embeddings", ("bge-m3",), dimensions=1024),
)

DEFAULT_MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
DEFAULT_EMBEDDING_MODEL = "BAAI/bge-m3"
VERIFY_MODEL = "klusterai/verify-reliability"

_by_key: dict[str, ModelInfo] = {}
_extra: dict[str, ModelInfo] = {}
_lock = threading.Lock()

_FAMILY_NOISE = re.compile(r"(^meta-)|(-instruct)|(-turbo)|(-fp8)|(-it$)|(-\d{4}$)")


def _family(name: str) -> str:
    """Normalise a model name to a family key: 'klusterai/Meta-Llama-3.1-8B-Instruct-Turbo' -> 'llama-3.1-8b'."""
    name = name.strip().lower()
    if name.startswith("ft:"):
        parts = name.split(":")
        name = parts[2] if len(parts) > 2 else parts[-1]
    name = name.rsplit("/", 1)[-1]
    previous = None
    while previous != name:
        previous = name
        name = _FAMILY_NOISE.sub("", name)
    return name


def _index() -> dict[str, ModelInfo]:
    if not _by_key:
        for info in CATALOG:
            for key in (info.id, info.id.rsplit("/", 1)[-1], *info.aliases):
                _by_key.setdefault(key.lower(), info)
    return _by_key


def _infer_base(name: str) -> ModelInfo | None:
    family = _family(name)
    if not family:
        return None
    for info in CATALOG:
        if _family(info.id) == family:
            return info
    return None


def _derived(name: str, kind: ModelKind, base: ModelInfo | None) -> ModelInfo:
    if base is None:
        # Permissive defaults: we do not know, so we do not refuse anything client-side.
        return ModelInfo(id=name, display_name=name, kind=kind, tools=True, vision=True, limits={})
    return base.model_copy(
        update={
            "id": name,
            "display_name": f"{name} (based on {base.display_name})",
            "aliases": (),
            "kind": kind,
            "base_model": base.id,
            "fine_tuning": False,
        }
    )


def register_model(name: str, *, base: str | None = None, kind: ModelKind = "dedicated") -> ModelInfo:
    """Declare a model name (dedicated endpoint ID, fine-tuned model) and optionally its base model,
    so that it inherits the base model's capabilities and limits. A `base` nobody knows is refused:
    inheriting permissive defaults from a typo would hide it until the service refuses a request."""
    from kluster_agents.integrations._api.errors import KlusterConfigError

    if not isinstance(name, str) or not name.strip():
        raise KlusterConfigError(f"register_model needs a non-empty model name, got {name!r}.")
    base_info = get_model(base) if base is not None else _infer_base(name)
    if base_info is not None and base is not None and base_info.kind == "unknown":
        raise KlusterConfigError(
            f"Unknown base model {base!r} for {name!r}: use a catalog name or alias (`kluster-agents models`, "
            f"e.g. {DEFAULT_MODEL!r}), a fine-tuned name or a name registered before."
        )
    info = _derived(name, kind, base_info)
    with _lock:
        _extra[name.lower()] = info
    return info


def get_model(name: str) -> ModelInfo:
    """Look a model up by API name (any case), short alias, fine-tuned name or endpoint ID.

    Never raises for an unknown name: kluster accepts fine-tuned models and dedicated
    endpoint IDs we cannot know in advance. Those inherit the capabilities of the base
    model when the name reveals it, and get permissive defaults otherwise.
    """
    if not isinstance(name, str) or not name.strip():
        from kluster_agents.integrations._api.errors import KlusterConfigError

        raise KlusterConfigError(
            f"Model name must be a non-empty string, got {name!r}; e.g. {DEFAULT_MODEL!r} (see `kluster-agents models`)."
        )
    key = name.strip().lower()
    found = _index().get(key) or _extra.get(key)
    if found is not None:
        return found
    if key.startswith("ft:"):
        return _derived(name.strip(), "fine-tuned", _infer_base(name))
    return _derived(name.strip(), "unknown", _infer_base(name))


def list_models(*, include_registered: bool = True) -> list[ModelInfo]:
    """The documented catalog, plus names registered or discovered by `refresh_models()`."""
    return list(CATALOG) + (list(_extra.values()) if include_registered else [])


def supports_tools(info: ModelInfo, settings: KlusterSettings | None = None) -> bool:
    """Tool support under the configured source of truth (the docs disagree: see `tool_support`)."""
    if settings is not None and settings.tool_support == "llama-only" and info.kind == "catalog":
        return info.is_llama
    return info.tools


def embedding_models() -> list[ModelInfo]:
    """The catalog's embedding models (for `/v1/embeddings`)."""
    return [m for m in list_models() if m.embedding]


def chat_models(*, include_registered: bool = True) -> list[ModelInfo]:
    """Every model `/v1/chat/completions` serves: the catalog without embedding models."""
    return [m for m in list_models(include_registered=include_registered) if not m.embedding]


def refresh_models(client: openai.OpenAI) -> list[ModelInfo]:
    """Read `GET /v1/models` and register every id the catalog does not know (fine-tuned models...).

    Returns the ModelInfo of every model the key can use, in the server's order.
    """
    from kluster_agents.integrations._api.errors import from_openai_error

    try:
        page = client.models.list()
    except Exception as exc:
        raise from_openai_error(exc) from exc
    infos = []
    for entry in page.data:
        key = entry.id.lower()
        if key in _index():
            infos.append(_index()[key])
            continue
        kind: ModelKind = "fine-tuned" if key.startswith("ft:") else "listed"
        infos.append(register_model(entry.id, kind=kind))
    return infos
