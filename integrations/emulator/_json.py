"""The emulator's JSON codec: orjson when it is installed (it is an optional extra), else the standard
library. One place, so that routes, the gateway and the reply engine encode alike."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

loads: Callable[[bytes | str], Any]


def _sorted_stdlib(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


try:
    import orjson

    def dumps(value: Any) -> bytes:
        return orjson.dumps(value)

    def canonical(value: Any) -> str:
        """`value` as JSON with sorted keys: the same text for equal values (a lookup key)."""
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        except TypeError:  # what orjson cannot encode (an integer past 64 bits): the standard library can
            return _sorted_stdlib(value)

    loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is optional

    def dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    canonical = _sorted_stdlib
    loads = json.loads
