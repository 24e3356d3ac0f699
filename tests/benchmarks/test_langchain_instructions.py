"""ChatKluster vs ChatOpenAI in instructions executed per call, counted by valgrind: a figure without noise.

CPU time per call (`test_langchain_overhead.py`) moves with the machine: on this shared 2-core machine the
same paired benchmark gave 1.025x one day and 1.035x another. Instructions executed do not. Each candidate
runs in a fresh interpreter under `valgrind --tool=callgrind`, twice: warm-up only, then warm-up plus `N`
calls; the difference over `N` is its instructions per call (start-up and imports cancel out). Both send
through their own default stack, our client's hooks included (limiter, compat, typed errors, stream checks);
only the socket is replaced, by the same in-process mock transport under each, so that the count holds
the clients' work alone.

Opt-in (about 10 minutes for `invoke`, twice that with `stream`; needs Debian's valgrind):
  BENCH_INSTRUCTIONS=invoke,stream uv run pytest -m benchmark -s tests/benchmarks/test_langchain_instructions.py
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchmark

VALGRIND = shutil.which("valgrind")
MODES = [m for m in os.environ.get("BENCH_INSTRUCTIONS", "").split(",") if m]
CALLS = {"invoke": 200, "stream": 100}
ROOT = Path(__file__).resolve().parents[2]

DRIVER = """
import json, sys, warnings
import httpx
sys.path.insert(0, sys.argv[1])
warnings.simplefilter("ignore")
from tests.benchmarks._chat_server import COMPLETION, _events
from tests.benchmarks.test_langchain_overhead import COMMON, MESSAGES, TIER
from kluster_agents.integrations._api import client as kluster_client
from kluster_agents.integrations._api.settings import KlusterSettings

def answer(request):
    body = json.loads(request.read())
    if body.get("stream"):
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=b"".join(_events(usage)))
    return httpx.Response(200, headers={"content-type": "application/json"}, content=json.dumps(COMPLETION).encode())

mock = httpx.MockTransport(answer)
kluster_client._LazyTransport.handle_request = lambda self, request: mock.handle_request(request)  # the socket only
url = "http://127.0.0.1:9/v1"
settings = KlusterSettings.load(api_key="bench-key", base_url=url, tier=TIER, warn_on_drop=False)
timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)
if sys.argv[2] == "ChatKluster":
    from kluster_agents.adapters.langchain import ChatKluster
    model = ChatKluster(**COMMON, settings=settings)
else:
    from langchain_openai import ChatOpenAI
    http_client = httpx.Client(transport=mock, follow_redirects=True, timeout=timeout)
    model = ChatOpenAI(**COMMON, base_url=url, stream_usage=True, timeout=timeout, http_client=http_client)

def streamed():
    final = None
    for chunk in model.stream(MESSAGES):
        final = chunk if final is None else final + chunk
    return final

call = (lambda: model.invoke(MESSAGES)) if sys.argv[3] == "invoke" else streamed
for _ in range(20):
    call()
for _ in range(int(sys.argv[4])):
    call()
"""


def _instructions(candidate: str, mode: str, calls: int) -> int:
    valgrind = [VALGRIND or "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    out = subprocess.run(
        [*valgrind, sys.executable, "-c", DRIVER, str(ROOT), candidate, mode, str(calls)],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    return int(re.search(r"Collected : (\d+)", out).group(1))  # type: ignore[union-attr]


@pytest.mark.timeout(3600)  # ten minutes a mode by design (the suite's default is 300 s)
@pytest.mark.skipif(VALGRIND is None, reason="needs valgrind (Debian's package)")
@pytest.mark.skipif(not MODES, reason="opt-in: BENCH_INSTRUCTIONS=invoke[,stream] (about 10 minutes a mode)")
@pytest.mark.parametrize("mode", ["invoke", "stream"])
def test_chat_kluster_instructions_per_call_vs_chat_openai(mode: str) -> None:
    if mode not in MODES:
        pytest.skip(f"not asked for: BENCH_INSTRUCTIONS={','.join(MODES)}")
    calls = CALLS[mode]
    runs = [(c, n) for n in (0, calls) for c in ("ChatKluster", "ChatOpenAI")]
    with ThreadPoolExecutor(2) as pool:  # one valgrind per core
        counts = dict(zip(runs, pool.map(lambda run: _instructions(run[0], mode, run[1]), runs), strict=True))
    per_call = {c: (counts[(c, calls)] - counts[(c, 0)]) / calls for c in ("ChatKluster", "ChatOpenAI")}
    ratio = per_call["ChatKluster"] / per_call["ChatOpenAI"]
    print(
        f"\n{mode}: ChatKluster {per_call['ChatKluster'] / 1e6:.3f} M instructions a call, ChatOpenAI "
        f"{per_call['ChatOpenAI'] / 1e6:.3f} M: {ratio:.3f}x (valgrind, {calls} calls after 20 warm-up, socket mocked)"
    )
    assert ratio <= 1.03
