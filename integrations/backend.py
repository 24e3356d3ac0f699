"""`kluster_backend()`: what recipes and `demo` run against — the real API when
`KLUSTER_API_KEY` is set, otherwise the embedded emulator, announced on the first line."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kluster_agents.integrations.api.settings import KlusterSettings

if TYPE_CHECKING:
    from kluster_agents.integrations.emulator import Emulator


@dataclass(frozen=True)
class Backend:
    """Where calls go: `settings` to use, and the running emulator when there is no key."""

    settings: KlusterSettings
    emulator: Emulator | None = None

    @property
    def emulated(self) -> bool:
        return self.emulator is not None


def _say(line: str) -> None:
    print(line, flush=True)


@contextmanager
def kluster_backend(
    settings: KlusterSettings | None = None,
    *,
    mode: str = "strict",
    announce: Callable[[str], None] = _say,
) -> Iterator[Backend]:
    """Yield a `Backend`. Without a key, start the emulator and point `KLUSTER_BASE_URL` /
    `KLUSTER_API_KEY` at it for the duration, so framework classes that read the environment
    (ChatKluster, kluster_llm, KlusterProvider...) use it too."""
    settings = settings or KlusterSettings.load()
    if settings.has_api_key:
        announce(f"Using the kluster.ai API at {settings.base_url} (KLUSTER_API_KEY is set).")
        yield Backend(settings=settings)
        return

    from kluster_agents.integrations.emulator import Emulator

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
