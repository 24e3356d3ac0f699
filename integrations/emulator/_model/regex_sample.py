"""A deterministic string that matches a regular expression: walks the parse tree of Python's own
regex parser (`re._parser`) and takes the simplest choice at every node — the first branch, the
first character of a class, the minimum number of repetitions (plus `extra_repeats` for
unbounded ones, to reach a minimum length). Used for JSON Schema `pattern`s in tool arguments."""

from __future__ import annotations

import re
import string

# Python's own regex parser (3.11+); private, so typeshed has no stubs for it.
from re import _constants as _c  # type: ignore[attr-defined]
from re import _parser as _sre  # type: ignore[attr-defined]
from typing import Any

_PRINTABLE = string.ascii_letters + string.digits + "-_ .@"
_CATEGORY_CHARS = {
    _c.CATEGORY_DIGIT: string.digits,
    _c.CATEGORY_NOT_DIGIT: "a" + string.ascii_letters,
    _c.CATEGORY_SPACE: " ",
    _c.CATEGORY_NOT_SPACE: "a" + string.ascii_letters + string.digits,
    _c.CATEGORY_WORD: "a" + string.ascii_letters + string.digits + "_",
    _c.CATEGORY_NOT_WORD: " -.",
}


def sample_for_pattern(pattern: str, *, extra_repeats: int = 0) -> str | None:
    """A string that `re.search(pattern, ...)` accepts, or None when the walker cannot make one."""
    try:
        parsed = _sre.parse(pattern)
        text = _Walker(extra_repeats).walk(list(parsed))
    except (re.error, RecursionError, ValueError, TypeError, IndexError):
        return None
    return text if re.search(pattern, text) else None


class _Walker:
    def __init__(self, extra_repeats: int) -> None:
        self.extra = extra_repeats
        self.groups: dict[int, str] = {}

    def walk(self, items: list[tuple[Any, Any]]) -> str:
        return "".join(self.node(op, av) for op, av in items)

    def node(self, op: Any, av: Any) -> str:
        if op is _c.LITERAL:
            return chr(av)
        if op is _c.NOT_LITERAL:
            return next(ch for ch in _PRINTABLE if ord(ch) != av)
        if op is _c.ANY:
            return "a"
        if op is _c.IN:
            return self.char_class(av)
        if op is _c.BRANCH:
            return self.walk(list(av[1][0]))
        if op is _c.SUBPATTERN:
            group, body = av[0], av[-1]
            text = self.walk(list(body))
            if group is not None:
                self.groups[group] = text
            return text
        if op in (_c.MAX_REPEAT, _c.MIN_REPEAT) or op is getattr(_c, "POSSESSIVE_REPEAT", None):
            low, high, body = av
            count = low
            if high is _c.MAXREPEAT or high > low:
                count = low + self.extra
                if high is not _c.MAXREPEAT:
                    count = min(count, high)
            return "".join(self.walk(list(body)) for _ in range(count))
        if op is _c.GROUPREF:
            return self.groups.get(av, "")
        if op in (_c.AT, _c.ASSERT, _c.ASSERT_NOT):
            return ""
        if op is getattr(_c, "ATOMIC_GROUP", None):
            return self.walk(list(av))
        if op is _c.GROUPREF_EXISTS:
            return self.walk(list(av[1]))
        raise ValueError(f"unsupported regex node {op}")

    def char_class(self, items: list[tuple[Any, Any]]) -> str:
        negate = bool(items) and items[0][0] is _c.NEGATE
        allowed: list[str] = []
        for op, av in items[1:] if negate else items:
            if op is _c.LITERAL:
                allowed.append(chr(av))
            elif op is _c.RANGE:
                allowed.append(chr(av[0]))
                allowed.extend(chr(c) for c in range(av[0], min(av[1], av[0] + 96) + 1))
            elif op is _c.CATEGORY:
                allowed.extend(_CATEGORY_CHARS.get(av, "a"))
        if not negate:
            if not allowed:
                raise ValueError("empty character class")
            return allowed[0]
        return next(ch for ch in _PRINTABLE if ch not in allowed)
