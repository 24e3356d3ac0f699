"""The proxy config generator, loaded the way LiteLLM's proxy loads it."""

from __future__ import annotations

import importlib.util

import litellm
import pytest
import yaml
from litellm.proxy.types_utils.utils import get_instance_fn
from litellm.types.guardrails import LitellmParams
from typer import Typer
from typer.testing import CliRunner

from kluster_agents.adapters.litellm import KlusterLLM, KlusterVerifyGuardrail, litellm_config_command

from .conftest import GEMMA, LLAMA


def _cli(*args: str) -> str:
    app = Typer()
    app.command("litellm-config")(litellm_config_command)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["litellm-config", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_cli_prints_yaml_for_the_whole_catalog():
    config = yaml.safe_load(_cli("--tier", "core"))
    names = [m["model_name"] for m in config["model_list"]]
    assert LLAMA in names and "klusterai/verify-reliability" not in names
    llama = next(m for m in config["model_list"] if m["model_name"] == LLAMA)
    assert llama["litellm_params"] == {"model": f"kluster/{LLAMA}", "rpm": 600, "max_parallel_requests": 100}
    assert llama["model_info"]["supports_function_calling"] is True
    assert config["guardrails"][0]["litellm_params"]["mode"] == "post_call"
    fallbacks = {k: v for item in config["router_settings"]["fallbacks"] for k, v in item.items()}
    assert GEMMA not in fallbacks[LLAMA]  # a tool request never falls back to a model without tools


def test_embedding_models_get_a_deployment():
    config = yaml.safe_load(_cli("--tier", "core"))
    bge = next(m for m in config["model_list"] if m["model_name"] == "BAAI/bge-m3")
    assert bge["litellm_params"]["model"] == "kluster/BAAI/bge-m3"
    assert bge["model_info"]["mode"] == "embedding"
    fallbacks = {k for item in config["router_settings"]["fallbacks"] for k in item}
    assert "BAAI/bge-m3" not in fallbacks  # a chat request never falls back to an embedding model
    assert "mcp_servers" not in config  # opt-in


def test_mcp_server_entry_reads_its_token_from_the_environment(monkeypatch):
    monkeypatch.setenv("KLUSTER_MCP_TOKEN", "mcp-secret-99")
    text = _cli("--tier", "core", "--model", LLAMA, "--mcp")
    assert "mcp-secret-99" not in text
    (entry,) = yaml.safe_load(text)["mcp_servers"].values()
    assert entry["url"].endswith("/v1/mcp") and entry["transport"] == "http"
    assert (entry["auth_type"], entry["auth_value"]) == ("bearer_token", "os.environ/KLUSTER_MCP_TOKEN")


async def test_embeddings_through_the_generated_router(emulator):
    config = yaml.safe_load(_cli("--tier", "core", "--model", "BAAI/bge-m3"))
    router = litellm.Router(model_list=config["model_list"])
    response = await router.aembedding(model="BAAI/bge-m3", input=["hello"])
    assert len(response.data[0]["embedding"]) == 1024


def test_cli_options_and_no_secret_in_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KLUSTER_API_KEY", "sk-proxy-secret-77")
    out = tmp_path / "config.yaml"
    _cli("--tier", "trial", "--model", LLAMA, "--no-verify", "--no-fallbacks", "-o", str(out))
    text = out.read_text()
    assert "sk-proxy-secret-77" not in text
    config = yaml.safe_load(text)
    assert "guardrails" not in config and "fallbacks" not in config["router_settings"]
    assert config["model_list"][0]["litellm_params"]["rpm"] == 30


async def test_litellm_loads_the_config_and_serves_it(tmp_path, emulator):
    """Same steps as `ProxyConfig.load_config` (its module needs litellm[proxy], not installed here):
    custom_provider_map via LiteLLM's get_instance_fn, model_list + router_settings into a Router,
    and the guardrail class built the way the proxy's custom-guardrail initializer builds it."""
    path = tmp_path / "config.yaml"
    path.write_text(_cli("--tier", "core", "--model", LLAMA, "--model", GEMMA))
    config = yaml.safe_load(path.read_text())

    provider_map = [
        {"provider": i["provider"], "custom_handler": get_instance_fn(i["custom_handler"], str(path))}
        for i in config["litellm_settings"]["custom_provider_map"]
    ]
    assert isinstance(provider_map[0]["custom_handler"], KlusterLLM)
    router = litellm.Router(model_list=config["model_list"], **config["router_settings"])

    (entry,) = config["guardrails"]
    params = LitellmParams(**entry["litellm_params"])
    extra = {
        k: v for k, v in params.model_dump(exclude_none=True).items() if k not in ("guardrail", "mode", "default_on")
    }
    guardrail = get_instance_fn(params.guardrail, str(path))(
        guardrail_name=entry["guardrail_name"], event_hook=params.mode, default_on=params.default_on, **extra
    )
    assert isinstance(guardrail, KlusterVerifyGuardrail) and guardrail.policy.max_retries == 2

    previous = litellm.custom_provider_map
    litellm.custom_provider_map = provider_map
    try:
        answer = await router.acompletion(model=LLAMA, messages=[{"role": "user", "content": "hi"}])
    finally:
        litellm.custom_provider_map = previous
    assert answer.choices[0].message.content == "[emulated] reply to: hi"


@pytest.mark.skipif(importlib.util.find_spec("backoff") is None, reason="litellm[proxy] is not installed")
async def test_proxy_config_loader(tmp_path, emulator):  # pragma: no cover - needs litellm[proxy]
    from litellm.proxy.proxy_server import ProxyConfig

    path = tmp_path / "config.yaml"
    path.write_text(_cli("--tier", "core", "--model", LLAMA))
    _router, models, _ = await ProxyConfig().load_config(router=None, config_file_path=str(path))
    assert [m["model_name"] for m in models] == [LLAMA]


def test_redis_url_makes_proxy_instances_share_the_tier():
    text = _cli("--tier", "trial", "--model", LLAMA, "--redis-url", "rediss://fleet:s3cret@redis.internal:6380/2")
    assert "s3cret" not in text and "REDIS_PASSWORD" in text.splitlines()[3]
    # each proxy's handler draws from our shared budget: the header says which environment to start it with
    assert "KLUSTER_RATE_LIMIT_STORE=rediss://fleet:***@redis.internal:6380/2" in text.splitlines()[3]
    config = yaml.safe_load(text)
    router = config["router_settings"]
    assert "routing_strategy" not in router  # LiteLLM's clock-minute counting refuses (429) instead of waiting
    assert (router["redis_host"], router["redis_port"]) == ("redis.internal", 6380)
    assert router["redis_password"] == "os.environ/REDIS_PASSWORD"
    assert router["cache_kwargs"] == {"db": 2, "username": "fleet", "ssl": True}
    (llama,) = config["model_list"]
    assert llama["litellm_params"]["rpm"] == 30  # the trial tier's, shared by every instance
    assert llama["model_info"]["id"] == f"kluster-trial-{LLAMA}"  # the same counter key in every instance


def test_without_redis_url_each_proxy_keeps_its_own_counts():
    router = yaml.safe_load(_cli("--tier", "core", "--model", LLAMA))["router_settings"]
    assert not {"routing_strategy", "redis_host", "redis_password"} & set(router)


@pytest.mark.parametrize("url", ["http://localhost:6379", "redis://", "redis://host:port", "redis://host/db0"])
def test_bad_redis_url_is_one_line_naming_the_flag(url):
    app = Typer()
    app.command("litellm-config")(litellm_config_command)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["litellm-config", "--redis-url", url])
    assert result.exit_code == 2 and "--redis-url must look like redis://host:6379/0" in result.stderr
    assert "Traceback" not in result.output


def test_litellm_router_takes_the_generated_settings_to_a_real_redis(redis_server):
    pytest.importorskip(
        "redis", reason="LiteLLM's Redis client comes with the litellm-proxy extra (.ci/run's last step)"
    )
    config = yaml.safe_load(_cli("--tier", "trial", "--model", LLAMA, "--redis-url", redis_server.url))
    settings = {k: v for k, v in config["router_settings"].items() if k != "fallbacks"}
    router = litellm.Router(model_list=config["model_list"], **settings)
    assert router.routing_strategy == "simple-shuffle"
    assert router.cache.redis_cache is not None and router.cache.redis_cache.redis_client.ping()
