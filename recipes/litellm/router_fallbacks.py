"""A litellm.Router preset for kluster: RPM/concurrency from the tier table, fallbacks between
kluster models, and a 429 (with Retry-After) answered by the fallback model.

Run: uv run python recipes/litellm/router_fallbacks.py  (no key: runs on the built-in emulator,
which is told to rate-limit the 70B model after its first request)
"""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # kluster's models come from our catalog

import litellm

from kluster_agents.adapters.litellm import kluster_router
from kluster_agents.integrations import kluster_backend

PRIMARY = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
FALLBACK = "klusterai/Meta-Llama-3.1-8B-Instruct-Turbo"

with kluster_backend() as backend:
    litellm.suppress_debug_info = True
    router = kluster_router([PRIMARY, FALLBACK], tier="core", num_retries=0)  # fallbacks="chain" by default
    for entry in router.model_list:
        params = entry["litellm_params"]
        print(
            f"deployment {entry['model_name']}: rpm={params['rpm']}, max_parallel_requests={params['max_parallel_requests']}"
        )
    print("fallbacks:", router.fallbacks)

    if backend.emulated:  # make the emulator enforce 1 request/minute: the 2nd call gets a 429
        backend.emulator.controls.clock.freeze()
        backend.emulator.controls.enable_rate_limits(rpm=1)

    for i in range(2):
        answer = router.completion(model=PRIMARY, messages=[{"role": "user", "content": f"Question {i + 1}: hello!"}])
        print(f"call {i + 1}: answered by {answer.model}")

    if backend.emulated:
        statuses = [r.status for r in backend.emulator.controls.requests]
        print("HTTP statuses seen by the emulator:", statuses)
