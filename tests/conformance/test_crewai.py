"""The matrix for the CrewAI adapter."""

from __future__ import annotations

import pytest

from ._matrix import Cell, cells, run_cell
from .conftest import MATRIX_EMULATOR
from .drivers import crewai

pytestmark = MATRIX_EMULATOR


@pytest.mark.parametrize("cell", cells(crewai.FRAMEWORK), ids=str)
def test_cell(cell: Cell, matrix_emulator) -> None:
    run_cell(crewai.run, cell, matrix_emulator)
