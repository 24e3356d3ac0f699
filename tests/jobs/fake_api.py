"""A small in-process fake of kluster.ai's files/batches/uploads/fine-tuning endpoints
(httpx.MockTransport), for the engine's edge cases that need exact control: a job that stays
in progress, lines that fail, expiry, validation failures. Behaviour follows the API reference
in kluster-docs; every request is logged so tests can count calls.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai

API_KEY = "fake-kluster-key-0123456789"
BASE_URL = "https://fake.kluster.test/v1"
PLACEHOLDER = "Your request has been queued for adaptive inference. Check your batch jobs for results."


def completion(custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
    prompt = body["messages"][-1]["content"]
    return {
        "id": f"chatcmpl-{custom_id}",
        "object": "chat.completion",
        "created": 1,
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"echo: {prompt}", "tool_calls": []},
                "logprobs": None,
                "finish_reason": "stop",
                "stop_reason": None,
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        "prompt_logprobs": None,
    }


@dataclass
class FakeKluster:
    """State + knobs. `polls_to_finish`: retrieves before a job completes; `final_status` once it
    does ("completed", "expired", "failed"); `fail_ids`: custom_ids answered with a 400 line."""

    polls_to_finish: int = 1
    final_status: str = "completed"
    fail_ids: set[str] = field(default_factory=set)
    served_models: tuple[str, ...] = ("klusterai/Meta-Llama-3.3-70B-Instruct-Turbo", "acme/served-model")
    files: dict[str, bytes] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p in self.log if m == method and re.fullmatch(path, p))

    def client(self, **kwargs: Any) -> openai.OpenAI:
        return openai.OpenAI(
            api_key=API_KEY,
            base_url=BASE_URL,
            max_retries=0,
            http_client=httpx.Client(transport=httpx.MockTransport(self.handle)),
            **kwargs,
        )

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    # -- routing ---------------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1")
        self.log.append((request.method, path))
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return httpx.Response(401, json={"error": {"message": "bad key"}})
        for method, pattern, handler in self._routes():
            match = re.fullmatch(pattern, path)
            if request.method == method and match:
                return handler(request, *match.groups())
        return httpx.Response(404, json={"error": {"message": f"no route {request.method} {path}"}})

    def _routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("POST", r"/files", self._upload),
            ("GET", r"/files/([^/]+)/content", self._content),
            ("GET", r"/files/([^/]+)", self._file_get),
            ("POST", r"/uploads", self._upload_create),
            ("POST", r"/uploads/([^/]+)/parts", self._upload_part),
            ("POST", r"/uploads/([^/]+)/complete", self._upload_complete),
            ("POST", r"/batches", self._batch_create),
            ("GET", r"/batches", self._batch_list),
            ("GET", r"/batches/([^/]+)", self._batch_get),
            ("POST", r"/batches/([^/]+)/cancel", self._batch_cancel),
            ("GET", r"/models", self._models),
            ("POST", r"/chat/completions", self._chat),
            ("POST", r"/fine_tuning/jobs", self._ft_create),
            ("GET", r"/fine_tuning/jobs", self._ft_list),
            ("GET", r"/fine_tuning/jobs/([^/]+)", self._ft_get),
            ("POST", r"/fine_tuning/jobs/([^/]+)/cancel", self._ft_cancel),
        ]

    # -- files -----------------------------------------------------------------------------------
    def _file_obj(self, file_id: str, purpose: str, name: str) -> dict[str, Any]:
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(self.files[file_id]),
            "created_at": 1,
            "filename": name,
            "purpose": purpose,
        }

    def _upload(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        boundary = request.headers["content-type"].split("boundary=")[1].encode()
        parts = {}
        for part in body.split(b"--" + boundary):
            if b"\r\n\r\n" in part:
                head, data = part.split(b"\r\n\r\n", 1)
                name = re.search(rb'name="([^"]+)"', head).group(1).decode()
                parts[name] = data.removesuffix(b"\r\n")
        file_id = self._new_id("file")
        self.files[file_id] = parts["file"]
        return httpx.Response(200, json=self._file_obj(file_id, parts["purpose"].decode(), "upload.jsonl"))

    def _file_get(self, request: httpx.Request, file_id: str) -> httpx.Response:
        if file_id not in self.files:
            return httpx.Response(404, json={"error": {"message": "no such file"}})
        return httpx.Response(200, json=self._file_obj(file_id, "batch", "upload.jsonl"))

    def _content(self, request: httpx.Request, file_id: str) -> httpx.Response:
        if file_id not in self.files:
            return httpx.Response(404, json={"error": {"message": "no such file"}})
        return httpx.Response(200, content=self.files[file_id])

    def _upload_create(self, request: httpx.Request) -> httpx.Response:
        params = json.loads(request.read())
        upload_id = self._new_id("upload")
        self.uploads[upload_id] = {**params, "parts": {}}
        return httpx.Response(
            200,
            json={"id": upload_id, "object": "upload", "status": "pending", **params, "created_at": 1, "expires_at": 2},
        )

    def _upload_part(self, request: httpx.Request, upload_id: str) -> httpx.Response:
        body = request.read()
        boundary = request.headers["content-type"].split("boundary=")[1].encode()
        data = body.split(b"--" + boundary)[1].split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n")
        part_id = self._new_id("part")
        self.uploads[upload_id]["parts"][part_id] = data
        return httpx.Response(
            200, json={"id": part_id, "object": "upload.part", "upload_id": upload_id, "created_at": 1}
        )

    def _upload_complete(self, request: httpx.Request, upload_id: str) -> httpx.Response:
        upload = self.uploads[upload_id]
        order = json.loads(request.read())["part_ids"]
        file_id = self._new_id("file")
        self.files[file_id] = b"".join(upload["parts"][p] for p in order)
        return httpx.Response(
            200,
            json={
                "id": upload_id,
                "object": "upload",
                "status": "completed",
                "bytes": upload["bytes"],
                "created_at": 1,
                "expires_at": 2,
                "filename": upload["filename"],
                "purpose": upload["purpose"],
                "file": self._file_obj(file_id, upload["purpose"], upload["filename"]),
            },
        )

    # -- batches ---------------------------------------------------------------------------------
    def _batch_create(self, request: httpx.Request) -> httpx.Response:
        params = json.loads(request.read())
        if params["input_file_id"] not in self.files:
            return httpx.Response(404, json={"error": {"message": "no such file"}})
        lines = self.files[params["input_file_id"]].splitlines()
        batch_id = self._new_id("batch")
        self.batches[batch_id] = {
            "id": batch_id,
            "object": "batch",
            "endpoint": params["endpoint"],
            "errors": None,
            "input_file_id": params["input_file_id"],
            "completion_window": params["completion_window"],
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": 1,
            "metadata": params.get("metadata") or {},
            "_polls": 0,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
        }
        return self._batch_json(batch_id)

    def _batch_json(self, batch_id: str) -> httpx.Response:
        return httpx.Response(200, json={k: v for k, v in self.batches[batch_id].items() if not k.startswith("_")})

    def _batch_get(self, request: httpx.Request, batch_id: str) -> httpx.Response:
        batch = self.batches.get(batch_id)
        if batch is None:
            return httpx.Response(404, json={"error": {"message": "no such batch"}})
        if batch["status"] not in ("completed", "failed", "expired", "cancelled"):
            batch["_polls"] += 1
            if batch["status"] == "cancelling":
                self._finish(batch, "cancelled", run_fraction=0.0)
            elif batch["_polls"] >= self.polls_to_finish:
                self._finish(batch, self.final_status, run_fraction=0.5 if self.final_status == "expired" else 1.0)
            else:
                batch["status"] = "in_progress"
        return self._batch_json(batch_id)

    def _finish(self, batch: dict[str, Any], status: str, *, run_fraction: float) -> None:
        lines = [json.loads(line) for line in self.files[batch["input_file_id"]].splitlines()]
        batch["status"] = status
        if status == "failed":
            batch["errors"] = {
                "object": "list",
                "data": [{"code": "invalid_request", "message": "model not found", "param": "body.model", "line": 2}],
            }
            return
        done = lines[: int(len(lines) * run_fraction)]
        out, err = [], []
        for n, line in enumerate(reversed(done)):  # the service writes lines in its own order
            cid = line["custom_id"]
            if cid in self.fail_ids:
                err.append(
                    {
                        "id": f"r{n}",
                        "custom_id": cid,
                        "response": {
                            "status_code": 400,
                            "request_id": f"q{n}",
                            "body": {"error": {"message": f"bad request for {cid}", "type": "invalid_request_error"}},
                        },
                        "error": None,
                    }
                )
            else:
                out.append(
                    {
                        "id": f"r{n}",
                        "custom_id": cid,
                        "response": {"status_code": 200, "request_id": f"q{n}", "body": completion(cid, line["body"])},
                        "error": None,
                    }
                )
        for key, rows in (("output_file_id", out), ("error_file_id", err)):
            if rows:
                file_id = self._new_id("file")
                self.files[file_id] = "".join(json.dumps(r) + "\n" for r in rows).encode()
                batch[key] = file_id
        batch["request_counts"] = {"total": len(lines), "completed": len(out), "failed": len(err)}

    def _batch_cancel(self, request: httpx.Request, batch_id: str) -> httpx.Response:
        self.batches[batch_id]["status"] = "cancelling"
        return self._batch_json(batch_id)

    def _batch_list(self, request: httpx.Request) -> httpx.Response:
        data = [{k: v for k, v in b.items() if not k.startswith("_")} for b in reversed(self.batches.values())]
        return httpx.Response(200, json={"object": "list", "data": data, "has_more": False})

    # -- models, chat (adaptive) -------------------------------------------------------------------
    def _models(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "object": "list",
                "data": [{"id": m, "object": "model", "created": 1, "owned_by": "kluster"} for m in self.served_models],
            },
        )

    def _chat(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.read())
        options = (body.get("metadata") or {}).get("@kluster.ai") or {}
        if not options.get("async"):
            return httpx.Response(200, json=completion("realtime", body))
        file_id = self._new_id("file")
        line = {
            "custom_id": "async-1",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {k: v for k, v in body.items() if k != "metadata"},
        }
        self.files[file_id] = (json.dumps(line) + "\n").encode()
        batch_id = self._batch_create(
            httpx.Request(
                "POST",
                "x",
                json={
                    "input_file_id": file_id,
                    "endpoint": "/v1/chat/completions",
                    "completion_window": options["completion_window"],
                },
            )
        ).json()["id"]
        return httpx.Response(
            200,
            json={
                "id": f"{batch_id}_1743267849127",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {
                            "role": "assistant",
                            "content": PLACEHOLDER,
                        },
                    }
                ],
            },
        )

    # -- fine-tuning -----------------------------------------------------------------------------
    def _ft_create(self, request: httpx.Request) -> httpx.Response:
        params = json.loads(request.read())
        if params["training_file"] not in self.files:
            return httpx.Response(404, json={"error": {"message": "no such file"}})
        job_id = self._new_id("ftjob")
        self.jobs[job_id] = {
            "object": "fine_tuning.job",
            "id": job_id,
            "model": params["model"],
            "created_at": 1,
            "fine_tuned_model": None,
            "result_files": [],
            "status": "queued",
            "training_file": params["training_file"],
            "hyperparameters": params.get("hyperparameters") or {},
            "nickname": params.get("nickname"),
            "organization_id": "org",
            "seed": 0,
            "error": None,
            "finished_at": None,
            "validation_file": None,
            "trained_tokens": None,
            "_polls": 0,
        }
        return self._job_json(job_id)

    def _job_json(self, job_id: str) -> httpx.Response:
        return httpx.Response(200, json={k: v for k, v in self.jobs[job_id].items() if not k.startswith("_")})

    def _ft_get(self, request: httpx.Request, job_id: str) -> httpx.Response:
        job = self.jobs[job_id]
        job["_polls"] += 1
        if job["status"] == "queued":
            job["status"] = "running"
        elif job["status"] == "running" and job["_polls"] > self.polls_to_finish:
            job.update(
                status="succeeded",
                trained_tokens=3065,
                finished_at=2,
                fine_tuned_model=f"ft:{job['model']}:{job['nickname'] or 'personal'}:805b5d69",
            )
        return self._job_json(job_id)

    def _ft_list(self, request: httpx.Request) -> httpx.Response:
        data = [{k: v for k, v in j.items() if not k.startswith("_")} for j in self.jobs.values()]
        return httpx.Response(200, json={"object": "list", "data": data, "has_more": False})

    def _ft_cancel(self, request: httpx.Request, job_id: str) -> httpx.Response:
        self.jobs[job_id]["status"] = "cancelled"
        return self._job_json(job_id)
