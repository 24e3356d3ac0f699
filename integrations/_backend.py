"""`kluster_backend()`: what recipes and `demo` run against — the real API when
`KLUSTER_API_KEY` is set, otherwise the embedded emulator, announced on the first line.

A `KLUSTER_BASE_URL` that answers as a kluster emulator (every emulator response carries
`x-kluster-emulator: true`) counts as "no real key": after following the `emulate` banner,
scripts behave exactly as they do without a key (a built-in emulator they can script)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kluster_agents.integrations._api.errors import KlusterConfigError
from kluster_agents.integrations._api.settings import DEFAULT_BASE_URL, KlusterSettings

if TYPE_CHECKING:
    from kluster_agents.integrations.emulator import Emulator


logger = logging.getLogger(__name__)

EMULATOR_HEADER = "x-kluster-emulator"  # the emulator's gateway puts it on every response, errors included
PROBE_TIMEOUT = 2.0


def emulator_at(base_url: str, *, timeout: float = PROBE_TIMEOUT) -> bool:
    """True when `base_url` answers `GET /models` as a kluster emulator; False for kluster.ai itself
    (never probed), an unreachable endpoint, or anything else. No key is sent: the header is on
    the 401 too."""
    from urllib.parse import urlparse

    if urlparse(base_url).hostname == urlparse(DEFAULT_BASE_URL).hostname:
        return False
    import httpx

    try:
        response = httpx.get(f"{base_url.rstrip('/')}/models", timeout=timeout)
    except httpx.HTTPError as exc:
        logger.debug("emulator probe of %s failed: %s", base_url, type(exc).__name__)
        return False
    found = response.headers.get(EMULATOR_HEADER, "").lower() == "true"
    logger.debug("emulator probe of %s: HTTP %s, emulator=%s", base_url, response.status_code, found)
    return found


@dataclass(frozen=True)
class Backend:
    """Where calls go: `settings` to use; `emulator` is the built-in emulator started for this run
    (None on the real API and on an emulator in another process, e.g. `kluster-agents emulate`)."""

    settings: KlusterSettings
    emulator: Emulator | None = None
    external_emulator: bool = False

    @property
    def emulated(self) -> bool:
        """True when the answers are emulated: the built-in emulator or one found at KLUSTER_BASE_URL."""
        return self.emulator is not None or self.external_emulator


def _say(line: str) -> None:
    print(line, flush=True)


@contextmanager
def kluster_backend(
    settings: KlusterSettings | None = None,
    *,
    mode: str = "strict",
    announce: Callable[[str], None] = _say,
) -> Iterator[Backend]:
    """Yield a `Backend`: the real API with a key; an emulator already at KLUSTER_BASE_URL as it is;
    otherwise start the built-in emulator and point `KLUSTER_BASE_URL` / `KLUSTER_API_KEY` at it for the
    duration, so framework classes that read the environment (ChatKluster, kluster_llm, KlusterProvider...)
    use it too."""
    settings = settings or KlusterSettings.load()
    external = settings.base_url if settings.has_api_key and emulator_at(settings.base_url) else None
    if settings.has_api_key and not external:
        announce(f"Using the kluster.ai API at {settings.base_url} (KLUSTER_API_KEY is set).")
        yield Backend(settings=settings)
        return
    if external:  # e.g. after following the `kluster-agents emulate` banner: its inspector sees this run
        announce(f"Using the kluster emulator at {external} (emulated responses; KLUSTER_BASE_URL points at it).")
        yield Backend(settings=settings, external_emulator=True)
        return

    try:
        from kluster_agents.integrations.emulator import Emulator
    except ImportError as exc:
        raise KlusterConfigError(
            "No KLUSTER_API_KEY is set, and offline mode needs the built-in emulator, which comes with the "
            "'testing' extra: uv add --dev \"kluster-agents[testing]\" (or set KLUSTER_API_KEY to use the API)."
        ) from exc

    saved = {name: os.environ.get(name) for name in ("KLUSTER_BASE_URL", "KLUSTER_API_KEY")}
    with Emulator(mode=mode, tier=settings.tier) as emulator:
        announce(
            f"No KLUSTER_API_KEY set: using the built-in kluster emulator (emulated responses) at {emulator.base_url}"
        )
        os.environ["KLUSTER_BASE_URL"] = emulator.base_url
        os.environ["KLUSTER_API_KEY"] = emulator.api_key
        try:
            yield Backend(settings=emulator.settings, emulator=emulator)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            sys.stdout.flush()
