"""The matrix for PydanticAI."""

from __future__ import annotations

import pytest

from ._matrix import Cell, cells, run_cell
from .conftest import MATRIX_EMULATOR
from .drivers import pydantic_ai

pytestmark = MATRIX_EMULATOR


@pytest.mark.parametrize("cell", cells(pydantic_ai.FRAMEWORK), ids=str)
def test_cell(cell: Cell, matrix_emulator) -> None:
    run_cell(pydantic_ai.run, cell, matrix_emulator)
