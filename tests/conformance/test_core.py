"""The matrix for the core client (no framework)."""

from __future__ import annotations

import pytest

from ._matrix import Cell, cells, run_cell
from .conftest import MATRIX_EMULATOR
from .drivers import core

pytestmark = MATRIX_EMULATOR


@pytest.mark.parametrize("cell", cells(core.FRAMEWORK), ids=str)
def test_cell(cell: Cell, matrix_emulator) -> None:
    run_cell(core.run, cell, matrix_emulator)
