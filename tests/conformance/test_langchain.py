"""The matrix for LangChain (`ChatKluster`, its Batch API route, adaptive option and Verify wrapper)."""

from __future__ import annotations

import pytest

from ._matrix import Cell, cells, run_cell
from .conftest import MATRIX_EMULATOR
from .drivers import langchain

pytestmark = MATRIX_EMULATOR


@pytest.mark.parametrize("cell", cells(langchain.FRAMEWORK), ids=str)
def test_cell(cell: Cell, matrix_emulator) -> None:
    run_cell(langchain.run, cell, matrix_emulator)
