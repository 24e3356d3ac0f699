"""A stand-in for the slice of pandas the cookbook programs use (see ../README.md)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from typing import Any


def set_option(*args: Any) -> None:
    """Display options only matter in a notebook."""


class Series:
    def __init__(self, values: Iterable[Any], index: list[Any] | None = None, name: str | None = None) -> None:
        self.values = list(values)
        self.index = list(index) if index is not None else list(range(len(self.values)))
        self.name = name

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.values)

    def __getitem__(self, key: Any) -> Any:
        return self.values[self.index.index(key)]

    def astype(self, kind: Callable[[Any], Any]) -> Series:
        return Series([kind(v) for v in self.values], self.index, self.name)

    def __add__(self, other: Any) -> Series:
        others = other.values if isinstance(other, Series) else [other] * len(self)
        return Series([a + b for a, b in zip(self.values, others, strict=True)], self.index, self.name)

    def mean(self) -> float:
        return sum(self.values) / len(self.values) if self.values else float("nan")

    def __repr__(self) -> str:
        return "\n".join(f"{i}    {v}" for i, v in zip(self.index, self.values, strict=True))


class _ILoc:
    def __init__(self, frame: DataFrame) -> None:
        self.frame = frame

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int):
            return self.frame._row(key)
        positions = range(len(self.frame))[key] if isinstance(key, slice) else list(key)
        return self.frame._take(list(positions))


class DataFrame:
    def __init__(self, data: dict[str, Iterable[Any]] | None = None, index: list[Any] | None = None) -> None:
        self._columns = {name: list(values) for name, values in (data or {}).items()}
        length = len(next(iter(self._columns.values()))) if self._columns else 0
        self.index = list(index) if index is not None else list(range(length))

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, list):
            return DataFrame({name: self._columns[name] for name in key}, self.index)
        return Series(self._columns[key], self.index, key)

    def __setitem__(self, key: str, values: Any) -> None:
        values = list(values.values if isinstance(values, Series) else values)
        if len(values) != len(self):
            raise ValueError(f"Length of values ({len(values)}) does not match length of index ({len(self)})")
        self._columns[key] = values

    def _row(self, position: int) -> Series:
        return Series([v[position] for v in self._columns.values()], self.columns, self.index[position])

    def _take(self, positions: list[int]) -> DataFrame:
        return DataFrame(
            {n: [v[p] for p in positions] for n, v in self._columns.items()}, [self.index[p] for p in positions]
        )

    @property
    def iloc(self) -> _ILoc:
        return _ILoc(self)

    def iterrows(self) -> Iterator[tuple[Any, Series]]:
        for position, label in enumerate(self.index):
            yield label, self._row(position)

    def head(self, n: int = 5) -> DataFrame:
        return self._take(list(range(min(n, len(self)))))

    def tail(self, n: int = 5) -> DataFrame:
        return self._take(list(range(max(len(self) - n, 0), len(self))))

    def reset_index(self, drop: bool = False) -> DataFrame:
        return DataFrame(self._columns, None)

    def apply(self, func: Callable[[Series], Any], axis: int = 0) -> Series:
        if axis != 1:
            raise NotImplementedError("the stand-in applies row-wise only (axis=1)")
        return Series([func(row) for _, row in self.iterrows()], self.index)

    def __repr__(self) -> str:
        return "\n".join(f"{label}  " + "  ".join(str(row[c]) for c in self.columns) for label, row in self.iterrows())


def read_csv(path: str, header: int | None = 0, names: list[str] | None = None, encoding: str = "utf-8") -> DataFrame:
    with open(path, encoding=encoding, newline="") as f:
        rows = list(csv.reader(f))
    if header is not None:
        names, rows = names or rows[0], rows[1:]
    assert names is not None
    return DataFrame({name: [row[i] for row in rows] for i, name in enumerate(names)})
