"""The matrix through LiteLLM (`kluster/<model>`)."""

from __future__ import annotations

import pytest

pytest.importorskip("litellm")

from ._matrix import Cell, cells, run_cell
from .conftest import MATRIX_EMULATOR
from .drivers import litellm as driver

pytestmark = MATRIX_EMULATOR


@pytest.mark.parametrize("cell", cells(driver.FRAMEWORK), ids=str)
def test_cell(cell: Cell, matrix_emulator) -> None:
    run_cell(driver.run, cell, matrix_emulator)
