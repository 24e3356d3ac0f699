"""Re-record the shipped exchanges against the live kluster.ai API (a maintainers' tool, not in the wheel):
`KLUSTER_API_KEY=... uv run python tools/record_exchanges.py`.

Only cheap, side-effect-free requests are re-sent (chat, models, Verify, MCP status); batch,
file and fine-tuning exchanges keep their documented examples. The key and any Authorization
header never reach the written files (request bodies carry no credentials; responses are redacted).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from kluster_agents.integrations._api.errors import redact, register_secret
from kluster_agents.integrations._api.settings import DEFAULT_BASE_URL
from kluster_agents.integrations.emulator._cassettes.exchanges import RECORDED_DIR, load_exchanges

RERECORDED = (
    "chat_completion",
    "chat_completion_tool_call",
    "models_list",
    "verify_reliability",
    "verify_chat_completion",
    "mcp_status_disabled",
)


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: ("***" if k.lower() in ("authorization", "apikey", "api_key", "token") and v else _scrub(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return redact(value) if isinstance(value, str) else value


def record(api_key: str, base_url: str = DEFAULT_BASE_URL) -> list[str]:
    """Re-send the re-recordable exchanges and rewrite their files; returns the names written."""
    import httpx

    register_secret(api_key)
    exchanges = load_exchanges()
    written = []
    root = base_url.rstrip("/").removesuffix("/v1")
    with httpx.Client(headers={"Authorization": f"Bearer {api_key}"}, timeout=120) as http:
        for name in RERECORDED:
            exchange = exchanges[name]
            request = exchange["request"]
            response = http.request(request["method"], root + request["path"], json=request["body"])
            exchange["response"] = {"status": response.status_code, "body": _scrub(response.json())}
            exchange["source"] = {**exchange["source"], "recorded_live": True}
            (RECORDED_DIR / f"{name}.json").write_text(json.dumps(exchange, indent=2, ensure_ascii=False) + "\n")
            written.append(name)
    return written


def main() -> int:
    api_key = os.environ.get("KLUSTER_API_KEY", "").strip()
    if not api_key:
        print(
            "record: KLUSTER_API_KEY is not set, so nothing was re-recorded. Set it (and optionally "
            "KLUSTER_BASE_URL) to re-record the exchanges in " + str(RECORDED_DIR) + " against the live API.",
            file=sys.stderr,
        )
        return 2
    names = record(api_key, os.environ.get("KLUSTER_BASE_URL", DEFAULT_BASE_URL))
    print(f"re-recorded {len(names)} exchanges: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
