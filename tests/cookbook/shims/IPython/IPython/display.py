"""What the cookbook programs import from IPython.display, for a terminal (see ../../README.md)."""

from __future__ import annotations

from typing import Any


def clear_output(wait: bool = False) -> None:
    """A terminal keeps its output."""


def display(*objs: Any) -> None:
    """A notebook shows a value's repr (a string in quotes)."""
    for obj in objs:
        print(repr(obj))


class Markdown(str):
    pass


class HTML(str):
    pass
