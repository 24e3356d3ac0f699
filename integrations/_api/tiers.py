"""`Tier`: the kluster.ai plans, in a module of its own so that code which only needs the names (the
emulator, the catalog's per-tier limits) does not import pydantic-settings with `KlusterSettings`."""

from __future__ import annotations

from enum import Enum


class Tier(str, Enum):  # noqa: UP042 - str() and format() keep their Enum behaviour users rely on
    """kluster.ai plans; each has its own limits in the model catalog."""

    trial = "trial"
    core = "core"
    scale = "scale"
    enterprise = "enterprise"
