"""A canned OpenAI-compatible chat server on a real local socket, for per-call overhead benchmarks.

Run as its own process (`chat_server()` starts it) so that its CPU time is not the client's: both
candidates of a benchmark send real HTTP requests to it through their own default HTTP stacks
(connection pools, transport hooks), which a mock transport would skip. `POST /v1/chat/completions`
answers a fixed kluster-shaped completion, or with `"stream": true` a fixed SSE stream (ending in a
usage chunk when `stream_options.include_usage` asks for one, as OpenAI-compatible servers do).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "klusterai/Meta-Llama-3.3-70B-Instruct-Turbo"
REPLY = "The capital of Argentina is Buenos Aires."
COMPLETION = {
    "id": "chat-1",
    "object": "chat.completion",
    "created": 1736136422,
    "model": MODEL,
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": REPLY, "tool_calls": []},
            "logprobs": None,
            "finish_reason": "stop",
            "stop_reason": None,
        }
    ],
    "usage": {"prompt_tokens": 48, "total_tokens": 57, "completion_tokens": 9},
    "prompt_logprobs": None,
}


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    chunk = {
        "id": "chat-1",
        "object": "chat.completion.chunk",
        "created": 1736136422,
        "model": MODEL,
        "choices": [] if usage else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if usage:
        chunk["usage"] = usage
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def _events(include_usage: bool) -> list[bytes]:
    words = REPLY.split(" ")
    events = [_chunk({"role": "assistant", "content": ""})]
    events += [_chunk({"content": w if i == 0 else " " + w}) for i, w in enumerate(words)]
    events.append(_chunk({}, finish="stop"))
    if include_usage:
        events.append(_chunk({}, usage=COMPLETION["usage"]))  # type: ignore[arg-type]
    return [*events, b"data: [DONE]\n\n"]


_BODY = json.dumps(COMPLETION).encode()
_STREAMS = {flag: _events(flag) for flag in (False, True)}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: Nagle + delayed ACK would add 40 ms each

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        if not request.get("stream"):
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(_BODY)))
            self.end_headers()
            self.wfile.write(_BODY)
            return
        include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for event in _STREAMS[include_usage]:
            self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")


@contextmanager
def chat_server() -> Iterator[str]:
    """Start the server in its own process; yield its base URL (`http://127.0.0.1:<port>/v1`); stop it."""
    process = subprocess.Popen([sys.executable, __file__], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
