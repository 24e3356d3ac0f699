"""One emulator for the whole matrix (the plugin's session server, reset per cell): instant job timing,
and a tier without rate limits, so batch and adaptive cells finish at once and nothing waits for RPM."""

from __future__ import annotations

import pytest

MATRIX_EMULATOR = pytest.mark.kluster_emulator(timing="instant", tier="enterprise")


@pytest.fixture
def matrix_emulator(kluster_emulator_env):
    return kluster_emulator_env
