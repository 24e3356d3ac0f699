"""`KlusterProvider`: kluster.ai as a PydanticAI provider, and `kluster_model()` to build models on it.

Like pydantic-ai's own `DeepSeekProvider`/`TogetherProvider`, but the openai client comes
from `integrations.client.make_async_client`, so every chat completion goes through
kluster's compat layer (drops `stream_options`, translates, refuses what kluster cannot do
before the network) and uses the shared connection pool, retries and timeouts of
`KlusterSettings`.

`Agent("kluster:llama-3.3-70b")` works once `kluster_agents.adapters.pydantic_ai` is imported
(see `_model_strings`); `Agent(kluster_model("kluster:llama-3.3-70b"))` (the prefix is optional)
works too, and `kluster_models()` resolves the strings with a given provider.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any

import httpx
from openai import AsyncOpenAI
from pydantic_ai.capabilities import ResolveModelId
from pydantic_ai.exceptions import UserError
from pydantic_ai.profiles import ModelProfileSpec
from pydantic_ai.profiles.openai import OpenAIModelProfile
from pydantic_ai.providers import Provider
from pydantic_ai.settings import ModelSettings

from kluster_agents.adapters.pydantic_ai._model_strings import MODEL_PREFIX
from kluster_agents.adapters.pydantic_ai._profiles import kluster_model_profile
from kluster_agents.integrations._api.catalog import DEFAULT_MODEL, get_model
from kluster_agents.integrations._api.client import make_async_client
from kluster_agents.integrations._api.errors import KlusterConfigError, redact
from kluster_agents.integrations._api.settings import NO_API_KEY, KlusterSettings, resolve_settings

if TYPE_CHECKING:
    # Both load modules that take longer than pydantic-ai's own provider import (all of
    # `openai.resources`, pydantic-ai's OpenAI model): imported where used, so `KlusterProvider` is cheap.
    from pydantic_ai.models.openai import OpenAIChatModel


class KlusterProviderError(KlusterConfigError, UserError):
    """The provider cannot be built (no key, foreign openai client).

    Both a `KlusterConfigError` (like every configuration error of kluster-agents) and a
    pydantic-ai `UserError` (what pydantic-ai's own providers raise), so either `except` works.
    """

    # `UserError` declares `message` a writable attribute, `KlusterError` a read-only view of the
    # (redacted) first argument: one property serves both, and a new message is redacted too.
    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    @message.setter
    def message(self, value: str) -> None:
        self.args = (redact(value),)


def _keyless_client(settings: KlusterSettings) -> AsyncOpenAI:
    """What a provider without a key hands out: models can be built on it, and every request raises
    the "no key" error before anything is sent (the openai SDK's per-request hook, outside its retries)."""
    from kluster_agents.integrations._api.kluster_openai import AsyncKlusterOpenAI

    class KeylessKlusterOpenAI(AsyncKlusterOpenAI):
        async def _prepare_options(self, options: Any) -> Any:
            raise KlusterProviderError(NO_API_KEY)

    return KeylessKlusterOpenAI(api_key="no-key", base_url=settings.base_url, kluster_settings=settings)


class KlusterProvider(Provider[AsyncOpenAI]):
    """Provider for the kluster.ai API (`https://api.kluster.ai/v1`, key from `KLUSTER_API_KEY`).

    Pass `api_key`/`base_url`/`settings`, or an `openai_client` made by `make_async_client()`,
    or an `http_client` (e.g. with a mock transport). Without an `http_client`, the provider
    uses the running event loop's shared pool, so one provider works across `asyncio.run()`
    calls and test event loops.

    The key and base URL are looked up at each request, not when the provider is made: a module-level
    `agent = Agent(kluster_model(...))` works under `with kluster_backend():` or once `KLUSTER_API_KEY`
    is set, and without a key the first run raises `KlusterProviderError` naming `KLUSTER_API_KEY`.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        settings: KlusterSettings | None = None,
        openai_client: AsyncOpenAI | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._fixed: AsyncOpenAI | None = None
        if openai_client is not None:
            from kluster_agents.integrations._api.kluster_openai import AsyncKlusterOpenAI

            if not isinstance(openai_client, AsyncKlusterOpenAI):
                raise KlusterProviderError(
                    "openai_client must come from kluster_agents.integrations.make_async_client() so that kluster's "
                    f"compat rules apply to every request; got {type(openai_client).__name__}."
                )
            self._fixed = openai_client
            settings = openai_client.kluster_settings or resolve_settings(settings)
        self._given = settings
        self._overrides = {"api_key": api_key, "base_url": base_url}
        self._http_client = http_client
        self._built_for: KlusterSettings | None = None
        self._from_http_client: AsyncOpenAI | None = None
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncOpenAI] = weakref.WeakKeyDictionary()
        self._detached: AsyncOpenAI | None = None

    @property
    def name(self) -> str:
        return "kluster"

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    @property
    def settings(self) -> KlusterSettings:
        """The effective settings: the arguments, then `settings=`, then `KLUSTER_*` env as it is now."""
        if self._fixed is not None and self._given is not None:
            return self._given
        return resolve_settings(self._given, **self._overrides)

    @property
    def client(self) -> AsyncOpenAI:
        """The compat-enforcing client; without a fixed one, the running loop's (a pool cannot cross loops)."""
        if self._fixed is not None:
            return self._fixed
        settings = self.settings
        if settings is not self._built_for:  # first use, or the key/base URL in the environment changed
            self._built_for, self._from_http_client, self._detached = settings, None, None
            self._per_loop = weakref.WeakKeyDictionary()
        if not settings.has_api_key:
            if self._detached is None:
                self._detached = _keyless_client(settings)
            return self._detached
        if self._http_client is not None:
            if self._from_http_client is None:
                self._from_http_client = make_async_client(settings, http_client=self._http_client)
            return self._from_http_client
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if self._detached is None:
                self._detached = make_async_client(settings)
            return self._detached
        client = self._per_loop.get(loop)
        if client is None:
            client = self._per_loop[loop] = make_async_client(settings)
        return client

    # pydantic-ai declares a staticmethod but calls it on the provider instance (`Model.profile`);
    # ours depends on this provider's settings, so it is an instance method.
    def model_profile(self, model_name: str) -> OpenAIModelProfile:  # type: ignore[override]
        """Profile from the catalog, under this provider's settings (e.g. `tool_support`)."""
        return kluster_model_profile(model_name, self.settings)


def kluster_model(
    model: str = DEFAULT_MODEL,
    *,
    provider: KlusterProvider | None = None,
    profile: ModelProfileSpec | None = None,
    settings: ModelSettings | None = None,
    kluster_settings: KlusterSettings | None = None,
    **provider_kwargs: Any,
) -> OpenAIChatModel:
    """An `OpenAIChatModel` on kluster.ai: `Agent(kluster_model("kluster:llama-3.3-70b"))`.

    `model` is an API name, alias, fine-tuned name or endpoint ID, optionally prefixed with
    `kluster:`; aliases resolve to the API name. `settings` are PydanticAI's model settings
    (`{"temperature": 0.2}`), as for any pydantic-ai model; `kluster_settings` (a
    `KlusterSettings`) and the other `provider_kwargs` go to `KlusterProvider`.
    """
    if isinstance(settings, KlusterSettings):
        raise KlusterProviderError(
            "kluster_model(settings=...) takes PydanticAI model settings (e.g. {'temperature': 0.2}); "
            "pass a KlusterSettings as kluster_settings=... instead."
        )
    if kluster_settings is not None:
        provider_kwargs["settings"] = kluster_settings
    if provider is not None and provider_kwargs:
        options = sorted("kluster_settings" if key == "settings" else key for key in provider_kwargs)
        raise KlusterProviderError(f"Pass either provider= or provider options, not both: {options}")
    from kluster_agents.adapters.pydantic_ai._chat_model import KlusterChatModel

    name = get_model(model.removeprefix(MODEL_PREFIX)).id
    return KlusterChatModel(
        name, provider=provider or KlusterProvider(**provider_kwargs), profile=profile, settings=settings
    )


def kluster_models(provider: KlusterProvider | None = None, **provider_kwargs: Any) -> ResolveModelId[Any]:
    """A capability that makes `"kluster:<model>"` strings work: `Agent("kluster:llama-3.3-70b",
    capabilities=[kluster_models()])`, also for per-run `agent.run(..., model="kluster:...")`.

    pydantic-ai 2.31 resolves model strings through `ResolveModelId` capabilities before its
    built-in provider list; this one builds `kluster_model(...)` for the `kluster:` prefix and
    leaves every other string to pydantic-ai. The provider (key from `KLUSTER_API_KEY` unless
    given) is created at the first kluster model, so the agent can be defined before the key is set.
    """
    if provider is not None and provider_kwargs:
        raise KlusterProviderError(f"Pass either provider= or provider options, not both: {sorted(provider_kwargs)}")
    shared: list[KlusterProvider] = [provider] if provider is not None else []

    def resolve(_: Any, model_id: str) -> OpenAIChatModel | None:
        if not model_id.startswith(MODEL_PREFIX):
            return None
        if not shared:
            shared.append(KlusterProvider(**provider_kwargs))
        return kluster_model(model_id, provider=shared[0])

    return ResolveModelId(resolve)
