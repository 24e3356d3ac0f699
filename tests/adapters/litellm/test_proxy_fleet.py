"""Two real LiteLLM proxy processes, started from one `litellm-config --redis-url` file as its header
says, behind one real Redis, in front of one emulator enforcing the trial tier: a burst above the tier
waits in the proxies, no call is refused, and kluster never sees more than the tier allows.

Runs in the proxy environment (.ci/run's last step), like test_proxy_server.py.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from kluster_agents.integrations._api.catalog import get_model
from kluster_agents.integrations._api.settings import Tier
from kluster_agents.integrations.emulator._server.server import Emulator

from .conftest import LLAMA
from .test_proxy_server import BIN, _offline_env, _wait_ready

pytestmark = [
    pytest.mark.proxy,
    pytest.mark.skipif(
        importlib.util.find_spec("litellm_proxy_extras") is None,
        reason="needs the litellm-proxy extra, in its own environment (it conflicts with crewai): see .ci/run",
    ),
]

TIER = Tier.trial
RPM = get_model(LLAMA).limits_for(TIER).rpm  # type: ignore[union-attr]
CALLS = (RPM or 0) + 10  # ten more than one minute's worth: they must wait for the window, not be refused


@pytest.fixture(scope="module")
def fleet_emulator() -> Iterator[Emulator]:
    """One emulator enforcing the trial tier's RPM and concurrency, as the service does."""
    with Emulator() as emu:
        emu.controls.set_tier(TIER)
        emu.controls.enable_rate_limits()
        yield emu


@pytest.fixture(scope="module")
def proxies(
    fleet_emulator: Emulator, redis_server, tmp_path_factory: pytest.TempPathFactory, free_port: Callable[[], int]
) -> Iterator[list[str]]:
    """Two proxy processes from one generated config, each started with the environment its header names."""
    home = tmp_path_factory.mktemp("fleet")
    env = {**_offline_env(fleet_emulator, home), "KLUSTER_TIER": TIER.value}
    command = ["litellm-config", "--tier", TIER.value, "--model", LLAMA, "--no-verify", "--no-fallbacks"]
    text = subprocess.run(
        [BIN / "kluster-agents", *command, "--redis-url", redis_server.url],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    (home / "config.yaml").write_text(text)
    setting = re.search(r"^# Start every instance with (KLUSTER_RATE_LIMIT_STORE)=(\S+)", text, re.MULTILINE)
    assert setting is not None and setting[2] == redis_server.url
    env[setting[1]] = setting[2]
    started = []
    try:
        for n in range(2):
            port, log = free_port(), home / f"proxy-{n}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [BIN / "litellm", "--config", "config.yaml", "--host", "127.0.0.1", "--port", str(port)],
                    env=env,
                    cwd=home,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            started.append((process, f"http://127.0.0.1:{port}", log))
        for process, url, log in started:
            _wait_ready(process, url, log)
        yield [url for _, url, _ in started]
    finally:
        for process, _, _ in started:
            process.terminate()
        for process, _, _ in started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.mark.timeout(900)  # two proxy starts, then a minute and a bit of calls
def test_two_proxies_behind_one_redis_hold_the_tier(proxies: list[str], fleet_emulator: Emulator) -> None:
    fleet_emulator.controls.enable_rate_limits()  # a fresh window: what the proxies' starts sent is forgotten
    fleet_emulator.controls.clear_requests()

    def call(i: int) -> int:
        body = {"model": LLAMA, "messages": [{"role": "user", "content": f"call {i}"}]}
        headers = {"Authorization": "Bearer sk-proxy-client"}
        answer = httpx.post(f"{proxies[i % 2]}/v1/chat/completions", json=body, headers=headers, timeout=600)
        return answer.status_code

    with ThreadPoolExecutor(CALLS) as pool:  # all at once, alternating between the proxies
        statuses = list(pool.map(call, range(CALLS)))
    reached = fleet_emulator.controls.count("/chat/completions", "POST")
    refused = [r.status for r in fleet_emulator.controls.requests if r.status == 429]
    print(
        f"\n{CALLS} calls at once over 2 proxies ({TIER.value} tier, {RPM} rpm): {statuses.count(200)} answered, "
        f"{reached} reached kluster, {len(refused)} refused there"
    )
    assert statuses == [200] * CALLS  # no caller saw a 429 (nor anything else)
    assert not refused  # the service's sliding minute never held more than the tier's rpm
    assert reached == CALLS  # each call reached kluster once: they waited, none was refused and retried
