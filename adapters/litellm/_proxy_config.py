"""A LiteLLM proxy `config.yaml` for kluster's catalog on one tier: `kluster-agents litellm-config`.

The file names our `CustomLLM` handler (`litellm_settings.custom_provider_map`) so the proxy
routes `kluster/<id>` through compat, one deployment per chat model with the tier's rpm and
concurrency, one per embedding model (`/embeddings`), capability-preserving fallbacks, the
Verify guardrail (`mode: post_call`) and, with `--mcp`, kluster's cloud Verify MCP server
(`mcp_servers`, which the pinned LiteLLM proxy loads from its config; token from KLUSTER_MCP_TOKEN,
the one `kluster-agents mcp enable` prints). MCP is opt-in: the proxy's MCP gateway needs the `mcp`
package and a token, which a chat-only deployment has no use for. The proxy process reads KLUSTER_API_KEY / KLUSTER_BASE_URL /
KLUSTER_TIER at request time, so no secret is written into the file.

With `--redis-url`, several proxy instances draw from one budget: the handler's calls go through our
client, so each proxy started with `KLUSTER_RATE_LIMIT_STORE` set to that URL (the header says so) waits
for the tier's shared RPM and concurrency in Redis, and kluster never sees more than the tier. LiteLLM's
own `usage-based-routing-v2` is not used: it counts per clock minute, syncs its counts every 0.1 s (two
instances let a 75-call burst through on a 30 rpm tier) and answers the excess with 429 instead of
waiting. The router still gets the Redis (cooldowns shared across instances). A password in the URL is
not written: the file reads it from REDIS_PASSWORD when each proxy starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

import typer
import yaml

from kluster_agents.adapters.litellm._errors import PROVIDER
from kluster_agents.adapters.litellm._handler import KlusterLLM
from kluster_agents.adapters.litellm._router import deployment, normalise_fallbacks
from kluster_agents.adapters.litellm._verify import GUARDRAIL_NAME
from kluster_agents.integrations._api._limit_store import display_url
from kluster_agents.integrations._api.catalog import ModelInfo, embedding_models, get_model, list_models, supports_tools
from kluster_agents.integrations._api.errors import KlusterConfigError
from kluster_agents.integrations._api.settings import KlusterSettings, resolve_settings

# The handler instance the generated config points at (LiteLLM imports it by dotted path).
proxy_handler = KlusterLLM()
HANDLER_PATH = f"{__name__}.proxy_handler"
GUARDRAIL_PATH = "kluster_agents.adapters.litellm._verify.KlusterVerifyGuardrail"
MCP_SERVER_NAME = "kluster_verify"
MCP_TOKEN_ENV = "KLUSTER_MCP_TOKEN"
REDIS_PASSWORD_ENV = "REDIS_PASSWORD"  # LiteLLM's own name for it
RATE_LIMIT_STORE_ENV = "KLUSTER_RATE_LIMIT_STORE"  # our client's shared budget, read by each proxy's handler


def _chat_models() -> list[ModelInfo]:
    return [m for m in list_models(include_registered=False) if m.realtime and not m.verify and not m.embedding]


def mcp_server_entry(settings: KlusterSettings) -> dict[str, Any]:
    """kluster's cloud Verify MCP endpoint as a LiteLLM proxy `mcp_servers` entry (streamable HTTP,
    bearer token read from the environment when the proxy starts)."""
    return {
        "url": settings.base_url.rstrip("/") + "/mcp",
        "transport": "http",
        "auth_type": "bearer_token",
        "auth_value": f"os.environ/{MCP_TOKEN_ENV}",
        "description": "kluster.ai Verify: check an answer for hallucinations (kluster-agents mcp enable)",
    }


def redis_router_settings(url: str) -> dict[str, Any]:
    """LiteLLM `router_settings` with which every proxy given the same `redis://` / `rediss://` URL (Redis
    or Valkey) shares the router's state (cooldowns); the URL's password becomes a reference to
    REDIS_PASSWORD, never a value in the file. The tier itself is held by `KLUSTER_RATE_LIMIT_STORE`."""
    parts = urlsplit(url)
    try:
        port = parts.port or 6379
        db = int(parts.path.strip("/") or 0)
    except ValueError:
        port = db = -1
    if parts.scheme not in ("redis", "rediss") or not parts.hostname or port < 0 or db < 0 or parts.query:
        raise KlusterConfigError(
            "--redis-url must look like redis://host:6379/0 (or rediss:// for TLS; Valkey speaks the same), "
            f"got {parts.scheme or '?'}://{parts.hostname or '?'}{parts.path} (credentials not shown)."
        )
    settings: dict[str, Any] = {
        "redis_host": parts.hostname,
        "redis_port": port,
    }
    if parts.password is not None:
        settings["redis_password"] = f"os.environ/{REDIS_PASSWORD_ENV}"
    extra: dict[str, Any] = {"db": db} if db else {}
    if parts.username:
        extra["username"] = unquote(parts.username)
    if parts.scheme == "rediss":
        extra["ssl"] = True
    if extra:
        settings["cache_kwargs"] = extra
    return settings


def capability_fallbacks(infos: Sequence[ModelInfo], settings: KlusterSettings) -> dict[str, list[str]]:
    """Each model falls back to the other models that can serve the same requests (tools, vision)."""

    def covers(other: ModelInfo, info: ModelInfo) -> bool:
        return (supports_tools(other, settings) or not supports_tools(info, settings)) and (
            other.vision or not info.vision
        )

    result = {info.id: [o.id for o in infos if o.id != info.id and covers(o, info)] for info in infos}
    return {k: v for k, v in result.items() if v}


def build_proxy_config(
    tier: str | None = None,
    models: Sequence[str] | None = None,
    *,
    verify: bool = True,
    fallbacks: bool = True,
    num_retries: int = 2,
    mcp: bool = False,
    redis_url: str | None = None,
    settings: KlusterSettings | None = None,
) -> dict[str, Any]:
    """The proxy config as a dict (what `litellm-config` prints as YAML). `models` may name chat and
    embedding models; by default every chat model and the catalog's embedding models. `redis_url`:
    proxy instances share the tier's limits through that Redis (`redis_router_settings`)."""
    shared = redis_router_settings(redis_url) if redis_url is not None else {}
    settings = resolve_settings(settings, tier=tier)
    chosen = [get_model(m) for m in models] if models else [*_chat_models(), *embedding_models()]
    infos = [info for info in chosen if not info.embedding]
    names = [info.id for info in infos]
    config: dict[str, Any] = {
        "model_list": [deployment(info.id, info, settings, credentials=False) for info in chosen],
        "litellm_settings": {"custom_provider_map": [{"provider": PROVIDER, "custom_handler": HANDLER_PATH}]},
        "router_settings": {"num_retries": num_retries, **shared},
    }
    if fallbacks:
        config["router_settings"]["fallbacks"] = normalise_fallbacks(capability_fallbacks(infos, settings), names)
    if verify:
        config["guardrails"] = [
            {
                "guardrail_name": GUARDRAIL_NAME,
                "litellm_params": {
                    "guardrail": GUARDRAIL_PATH,
                    "mode": "post_call",
                    "default_on": True,
                    "on_hallucination": "retry",
                    "on_error": "fail_closed",
                    "max_retries": 2,
                },
            }
        ]
    if mcp:
        config["mcp_servers"] = {MCP_SERVER_NAME: mcp_server_entry(settings)}
    return config


def render_proxy_config(config: dict[str, Any], tier: str, redis_url: str | None = None) -> str:
    """The YAML with a header that says how to run it; `redis_url`: the store every instance must share."""
    header = (
        f"# LiteLLM proxy config for kluster.ai ({tier} tier), generated by `kluster-agents litellm-config`.\n"
        "# Run: KLUSTER_API_KEY=... litellm --config config.yaml  (needs kluster-agents[litellm-proxy]);\n"
        f"# with --mcp also {MCP_TOKEN_ENV}=... (from `kluster-agents mcp enable`).\n"
    )
    if redis_url is not None:
        password = f" and {REDIS_PASSWORD_ENV}=..." if "redis_password" in config["router_settings"] else ""
        header += (
            f"# Start every instance with {RATE_LIMIT_STORE_ENV}={display_url(redis_url)}{password}\n"
            "# (the same in each): their kluster calls then share the tier's rpm and concurrency in that Redis,\n"
            "# waiting for the tier instead of refusing.\n"
        )
    return header + yaml.safe_dump(config, sort_keys=False, width=120)


def litellm_config_command(
    tier: Annotated[str, typer.Option(help="Plan whose limits to use: trial, core, scale, enterprise.")] = "core",
    model: Annotated[
        list[str] | None, typer.Option(help="Only these models (repeat); default: the whole catalog.")
    ] = None,
    verify: Annotated[bool, typer.Option(help="Add the kluster Verify post-call guardrail.")] = True,
    fallbacks: Annotated[bool, typer.Option(help="Fall back to models with the same capabilities.")] = True,
    mcp: Annotated[
        bool, typer.Option(help="Add kluster's cloud Verify MCP server (token: KLUSTER_MCP_TOKEN; needs mcp).")
    ] = False,
    redis_url: Annotated[
        str | None,
        typer.Option(help="redis://host:port/db (or rediss://): proxy instances share the tier's rpm there."),
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
) -> None:
    """Print a LiteLLM proxy config.yaml for kluster.ai's models on a tier."""
    unknown = [name for name in model or () if get_model(name).kind == "unknown"]
    if unknown:  # a deployment for a name kluster does not serve would only fail at request time
        typer.echo(
            f"Error: unknown model {', '.join(map(repr, unknown))}; `kluster-agents models` lists names and aliases.",
            err=True,
        )
        raise typer.Exit(2)
    from kluster_agents.integrations._cli._common import atomic_output, cli_errors  # the CLI's conventions, on use

    with cli_errors():  # a bad --tier or --redis-url is one line on stderr (exit 2), not a traceback
        settings = KlusterSettings.load(tier=tier)
        config = build_proxy_config(
            models=model, verify=verify, fallbacks=fallbacks, mcp=mcp, redis_url=redis_url, settings=settings
        )
    text = render_proxy_config(config, settings.tier.value, redis_url)
    if output is None:
        typer.echo(text, nl=False)
    else:
        advice = "Free space there (or pick another path with -o) and run the command again."
        with cli_errors(), atomic_output(output, "the proxy config", advice) as handle:  # never half a config
            handle.write(text)
        typer.echo(f"wrote {output}", err=True)
