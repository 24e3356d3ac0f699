"""`KlusterSettings`: one validated place for key, base URL, tier, timeouts and compat modes.

Read from arguments, `KLUSTER_*` environment variables and a `.env` file. The key is a
`SecretStr` and is only demanded (`require_api_key`) when a call actually needs it.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kluster_agents.integrations._api.errors import KlusterConfigError, register_secret
from kluster_agents.integrations._api.tiers import Tier

DEFAULT_BASE_URL = "https://api.kluster.ai/v1"
# Python-only advice inside messages; the CLI removes or rewrites it (`cli._common.for_cli`).
PASS_API_KEY = "or pass the api_key argument"
RUN_OFFLINE_IN_PYTHON = (
    ", or wrap a script in `with kluster_backend():` (from kluster_agents.integrations import kluster_backend)"
)
GET_A_KEY = f"Create a key at https://platform.kluster.ai/apikeys and set KLUSTER_API_KEY ({PASS_API_KEY})."
NO_API_KEY = (
    "No kluster.ai API key configured. Two ways forward: (1) set KLUSTER_API_KEY "
    f"(create a key at https://platform.kluster.ai/apikeys) {PASS_API_KEY}; or "
    "(2) run offline on the built-in emulator: `kluster-agents emulate` in another terminal and export the "
    f"KLUSTER_BASE_URL and KLUSTER_API_KEY it prints{RUN_OFFLINE_IN_PYTHON}."
)
"""The one "no key" message: every adapter, the CLI and `require_api_key` raise it word for word."""


class KlusterBaseURLWarning(UserWarning):
    """The configured base URL does not end in /v1, where kluster's API lives."""


ToolMessageMode = Literal["native", "rewrite"]
OverLimitMode = Literal["refuse", "clamp"]
ToolSupportSource = Literal["models-table", "llama-only"]
VerifyConversationRoute = Literal["reliability", "chat", "auto"]
CompatHeaderMode = Literal["auto", "always", "never"]
ProgressMode = Literal["auto", "on", "off"]
_ON, _OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
StreamUsageMode = Literal["auto", "ask", "estimate"]
RateLimitStoreFallback = Literal["error", "local"]


class KlusterSettings(BaseSettings):
    """Configuration shared by every client, adapter, CLI command and the emulator."""

    model_config = SettingsConfigDict(
        env_prefix="KLUSTER_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
        hide_input_in_errors=True,  # a rejected key must never appear in a validation error
    )

    api_key: SecretStr | None = Field(default=None, description="kluster.ai API key (KLUSTER_API_KEY).")
    base_url: str = Field(default=DEFAULT_BASE_URL, description="API base URL (KLUSTER_BASE_URL).")
    tier: Tier = Field(default=Tier.core, description="Your plan; selects the per-model limits.")
    timeout: float = Field(default=60.0, gt=0, description="Per-request timeout in seconds.")
    connect_timeout: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=20, description="SDK retries on 408/409/429/5xx.")
    max_retry_wait: float = Field(
        default=60.0,
        ge=0,
        description="Longest Retry-After (seconds) a 429 is waited out before it is raised as a "
        "KlusterRateLimitError (KLUSTER_MAX_RETRY_WAIT); a server asking for an hour must not freeze a call.",
    )
    tool_messages: ToolMessageMode = Field(
        default="native",
        description="'native' sends assistant tool_calls + tool messages (observed to work live); "
        "'rewrite' turns them into plain text for endpoints that follow the docs' strict list.",
    )
    over_limit: OverLimitMode = Field(
        default="refuse", description="max_completion_tokens above the tier's max output: refuse or clamp."
    )
    tool_support: ToolSupportSource = Field(
        default="models-table",
        description="Which doc decides tool support: the models table (DeepSeek-V3, Llama, Qwen3) or the "
        "compatibility page ('only Llama models').",
    )
    stream_usage: StreamUsageMode = Field(
        default="auto",
        description="Usage in streams: 'auto' asks with stream_options.include_usage until the base URL refuses "
        "it once (then counts client-side, flagged estimated); 'ask' always asks (a refusal raises); "
        "'estimate' never asks and always counts client-side (KLUSTER_STREAM_USAGE).",
    )
    warn_on_drop: bool = Field(default=True, description="Warn once per dropped parameter per process.")
    verify_conversation_route: VerifyConversationRoute = Field(
        default="reliability",
        description="How verify_conversation reaches Verify: 'reliability' flattens the conversation onto "
        "/v1/verify/reliability (the live service answered the docs' [system, user, assistant] chat form "
        "with HTTP 500); 'chat' uses chat completions with klusterai/verify-reliability as documented; "
        "'auto' tries chat and falls back to reliability on a server error.",
    )

    client_rate_limit: bool = Field(
        default=True,
        description="Pace real-time requests client-side at the tier's per-model RPM and concurrency, shared by "
        "every client in the process, so bursts wait instead of failing with 429 (KLUSTER_CLIENT_RATE_LIMIT).",
    )
    client_rpm: int | None = Field(
        default=None, gt=0, description="Requests per minute per model, instead of the catalog's tier limit."
    )
    client_concurrency: int | None = Field(
        default=None, gt=0, description="Concurrent requests per model, instead of the catalog's tier limit."
    )

    rate_limit_store: SecretStr | None = Field(
        default=None,
        description="A Redis or Valkey URL (redis://host:port/db, rediss:// for TLS) through which every process "
        "draws from one RPM and concurrency budget per key, model and tier, instead of one per process "
        "(KLUSTER_RATE_LIMIT_STORE; needs the `redis` extra). A secret: the URL may carry a password.",
    )
    rate_limit_store_fallback: RateLimitStoreFallback = Field(
        default="error",
        description="When the rate-limit store cannot be reached: 'error' raises KlusterRateLimitStoreError, "
        "'local' logs a warning and paces with this process's own limiter (KLUSTER_RATE_LIMIT_STORE_FALLBACK).",
    )

    @field_validator("rate_limit_store", mode="before")
    @classmethod
    def _check_rate_limit_store(cls, value: Any) -> Any:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not isinstance(raw, str):
            return value
        raw = raw.strip()
        if not raw:
            return None
        parsed = urlparse(raw)
        register_secret(parsed.password)
        if parsed.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(
                f"KLUSTER_RATE_LIMIT_STORE must be a Redis or Valkey URL (redis://host:6379/0, rediss:// for TLS, "
                f"unix:///path/redis.sock), got scheme {parsed.scheme!r}"
            )
        return raw

    poll_interval: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="Seconds between status polls of batch, adaptive and fine-tuning jobs when a call gives no "
        "`poll_interval` (KLUSTER_POLL_INTERVAL; 0 polls every 0.05 s, the floor); unset: the adaptive schedule (0.1 s first, growing with the job's "
        "size and x1.5 without progress, cut to the estimated time left, at most 30 s).",
    )

    adaptive_timeout: float | None = Field(
        default=None,
        gt=0,
        description="Seconds a chat call in adaptive mode waits for its queued job before raising "
        "KlusterTimeoutError (the job keeps running; KLUSTER_ADAPTIVE_TIMEOUT); unset: until the job ends "
        "(at the latest when its completion window expires).",
    )

    progress: ProgressMode = Field(
        default="auto",
        description="Progress display of the frameworks' batch modes (LangChain batch=True, LiteLLM's batch helper, "
        "CrewAI kickoff_for_each_batched, PydanticAI run_many): 'auto' only on a terminal, 'on'/'off' (or "
        "true/false) always/never (KLUSTER_PROGRESS); each mode's `progress` argument wins.",
    )

    @field_validator("progress", mode="before")
    @classmethod
    def _normalise_progress(cls, value: Any) -> Any:
        text = str(value).strip().lower()
        return "on" if value is True or text in _ON else "off" if value is False or text in _OFF else text

    @field_validator("api_key", mode="before")
    @classmethod
    def _clean_api_key(cls, value: Any) -> Any:
        """Strip surrounding whitespace (a copied key often ends in a newline) and refuse non-ASCII keys
        (an HTTP header cannot carry them). The key itself never appears in the message."""
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not isinstance(raw, str):
            return value
        register_secret(raw)
        stripped = raw.strip()
        if not stripped.isascii() or any(not ch.isprintable() for ch in stripped):
            raise ValueError(
                "KLUSTER_API_KEY contains non-ASCII or control characters (often a smart quote or a stray "
                "character from copy-paste); copy the key again from https://platform.kluster.ai/apikeys"
            )
        return stripped

    send_compat_header: CompatHeaderMode = Field(
        default="auto",
        description="Send `x-kluster-compat` (what compat changed: parameter and field names, never content) "
        "for the emulator's inspector page: 'auto' only to a loopback base URL (where the emulator binds; "
        "kluster.ai never is), 'always'/'never' (or true/false) otherwise (KLUSTER_SEND_COMPAT_HEADER).",
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"KLUSTER_BASE_URL must be an http(s) URL such as {DEFAULT_BASE_URL!r}, got {value!r}")
        value = value.rstrip("/")
        if not parsed.path.rstrip("/").endswith("/v1"):
            warnings.warn(
                f"KLUSTER_BASE_URL {value!r} does not end in /v1; kluster's API lives under /v1 (e.g. "
                f"{DEFAULT_BASE_URL!r}), so requests elsewhere answer 404. Use {value + '/v1'!r} unless your "
                "proxy maps the path itself.",
                KlusterBaseURLWarning,
                stacklevel=2,
            )
        return value

    @field_validator("send_compat_header", mode="before")
    @classmethod
    def _normalise_compat_header(cls, value: Any) -> Any:
        text = str(value).strip().lower()
        return "always" if value is True or text in _ON else "never" if value is False or text in _OFF else text

    @field_validator("tier", mode="before")
    @classmethod
    def _normalise_tier(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            if value not in Tier.__members__:
                raise ValueError(f"unknown tier {value!r}; use one of: {', '.join(Tier.__members__)}")
        return value

    def model_post_init(self, __context: Any) -> None:
        if self.api_key is not None:
            register_secret(self.api_key.get_secret_value())

    @classmethod
    def load(cls, **overrides: Any) -> KlusterSettings:
        """Build settings, turning validation failures into an actionable `KlusterConfigError`."""
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as exc:
            problems = "; ".join(
                f"{_setting_name(err['loc'])}: {err['msg'].removeprefix('Value error, ')}" for err in exc.errors()
            )
            raise KlusterConfigError(f"Invalid kluster settings — {problems}") from None

    def require_api_key(self) -> str:
        """Return the key, or raise a `KlusterConfigError` that says how to get one."""
        if self.api_key is None or not self.api_key.get_secret_value().strip():
            raise KlusterConfigError(NO_API_KEY)
        return self.api_key.get_secret_value()

    @property
    def has_api_key(self) -> bool:
        return self.api_key is not None and bool(self.api_key.get_secret_value().strip())


def _setting_name(loc: tuple[int | str, ...]) -> str:
    """A failing setting as the argument and the environment variable that set it."""
    name = ".".join(str(p) for p in loc) or "settings"
    return f"{name} (KLUSTER_{name.upper()})" if name in KlusterSettings.model_fields else name


_env_cache: dict[tuple[Any, ...], KlusterSettings] = {}
_ENV_CACHE_SIZE = 64


def env_settings(**overrides: Any) -> KlusterSettings:
    """Settings from the environment with `overrides`, loaded once per `KLUSTER_*` environment and
    arguments (pydantic-settings re-reads the environment and `.env` on each load, ~1 ms: too much
    for hot paths and model construction); callers loading alike share one `KlusterSettings`."""
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("KLUSTER_")))
    key = (env, tuple(sorted(overrides.items())))
    try:
        cached = _env_cache.get(key)
    except TypeError:  # an unhashable override value: load it as given, uncached
        return KlusterSettings.load(**overrides)
    if cached is None:
        if len(_env_cache) >= _ENV_CACHE_SIZE:
            _env_cache.clear()
        cached = _env_cache[key] = KlusterSettings.load(**overrides)
    return cached


def resolve_settings(settings: KlusterSettings | None = None, **overrides: Any) -> KlusterSettings:
    """Use the given settings (with overrides applied) or load them from the environment."""
    if settings is None:
        return env_settings(**overrides) if any(v is not None for v in overrides.values()) else env_settings()
    updates = {k: v for k, v in overrides.items() if v is not None}
    if not updates:
        return settings
    return KlusterSettings.load(**{**settings.model_dump(), **updates})
