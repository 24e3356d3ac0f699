"""Result lines are placed by custom_id read with a byte scan; it must agree with a JSON parser or step aside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kluster_agents.integrations._api.errors import KlusterInvalidRequestError
from kluster_agents.integrations._jobs.batch.decode import custom_id_of
from kluster_agents.integrations._jobs.jsonl import LineIndex


@pytest.mark.parametrize(
    "line",
    [
        b'{"id":"r1","custom_id":"doc-1","response":{"status_code":200}}',
        b'{"custom_id":"doc-2"}',
        b'{"id":"r{1}","custom_id":"doc-3"}',  # a brace in an earlier value: parsed instead
        b'{"response":{"body":{"custom_id":"inner"}},"custom_id":"outer"}',  # a nested key comes first
        b'{"x\\"custom_id":"fake","custom_id":"real"}',  # the pattern inside an escaped key
        b'{"custom_id":"caf\\u00e9"}',  # an escape in the value
        '{"custom_id":"café"}'.encode(),
        b'{"custom_id": "spaced"}',
        b'{"custom_id":7}',
        b"[1]",
    ],
)
def test_custom_id_scan_agrees_with_the_parser(line: bytes) -> None:
    obj = json.loads(line)
    expected = obj["custom_id"] if isinstance(obj, dict) and isinstance(obj.get("custom_id"), str) else None
    assert custom_id_of(line) == expected


def test_a_truncated_line_still_names_its_custom_id() -> None:
    """The line is then stored and reported as that request's malformed result, never lost."""
    assert custom_id_of(b'{"id":"r1","custom_id":"doc-1","response":{"status_co') == "doc-1"


def test_a_repeated_custom_id_is_refused_across_index_blocks(tmp_path: Path) -> None:
    """Blocks are written by a worker thread; its error reaches the caller, and `close()` stops it."""
    index = LineIndex(tmp_path / "lines.sqlite3")
    try:
        with pytest.raises(KlusterInvalidRequestError, match="Request 25000 repeats custom_id 'id-3'"):
            for i in range(30_000):
                index.add(i, "id-3" if i == 25_000 else f"id-{i}", 0)
            index.flush()
    finally:
        index.close()
    reopened = LineIndex(tmp_path / "lines.sqlite3")
    try:
        assert len(reopened) == 20_000  # the blocks before the one holding the repeat
    finally:
        reopened.close()
