"""Plotting calls that draw nothing (a program's plots are display only; see ../../README.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class _Artist:
    """Accepts any plotting call and any arithmetic; iterates as many bars as asked for."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: _Artist()

    def __iter__(self) -> Iterator[_Artist]:
        while True:
            yield _Artist()

    def __add__(self, other: Any) -> _Artist:
        return self

    __radd__ = __truediv__ = __mul__ = __add__


def subplots(*args: Any, **kwargs: Any) -> tuple[_Artist, _Artist]:
    return _Artist(), _Artist()


def tight_layout(*args: Any, **kwargs: Any) -> None:
    pass


def show(*args: Any, **kwargs: Any) -> None:
    pass
