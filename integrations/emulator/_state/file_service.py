"""Stored files (`/v1/files`) and multi-part uploads (`/v1/uploads`): metadata as documents,
contents as blobs. Batch and fine-tuning engines use it to read inputs and write outputs.

Observed on the live service (default modes): an uploaded file's `filename` is server-generated,
`<24-hex org id>/<uuid>-<uuid>`, not the name the client sent; upload and part ids are bare 24-hex.
`docs-strict` keeps the client's filename and the `upload_`/`part_` prefixes of the docs' examples.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from kluster_agents.integrations.emulator._model.shapes import object_id
from kluster_agents.integrations.emulator._server.http_errors import bad_request, not_found
from kluster_agents.integrations.emulator._state.clock import EmulatedClock
from kluster_agents.integrations.emulator._state.store import Store

FILE_KIND = "file"
UPLOAD_KIND = "upload"
UPLOAD_PURPOSES = ("batch", "fine-tune")
UPLOAD_TTL_SECONDS = 3600  # reported as `expires_at`; not enforced (tests advance the clock by hours)


class FileService:
    """Files and uploads over the store, timestamped on the emulated clock."""

    def __init__(self, store: Store, clock: EmulatedClock, observed: Callable[[], bool] = lambda: True) -> None:
        self.store = store
        self.clock = clock
        self.observed = observed
        self.org_id = object_id()

    def _stored_name(self, filename: str) -> str:
        return f"{self.org_id}/{uuid.uuid4()}-{uuid.uuid4()}" if self.observed() else filename

    def _id(self, prefix: str) -> str:
        return object_id() if self.observed() else f"{prefix}_{object_id()}"

    def upload(self, content: bytes, filename: str, purpose: str) -> dict[str, Any]:
        """A file uploaded by a client (purposes `batch` and `fine-tune`)."""
        return self.create(content, self._stored_name(filename), _check_purpose(purpose))

    def create(self, content: bytes, filename: str, purpose: str) -> dict[str, Any]:
        file: dict[str, Any] = {
            "id": object_id(),
            "bytes": len(content),
            "created_at": int(self.clock.now()),
            "filename": filename,
            "object": "file",
            "purpose": purpose,
        }
        self.store.put_blob(file["id"], content)
        return self.store.put(FILE_KIND, file)

    def create_from_path(self, path: Path, filename: str, purpose: str) -> dict[str, Any]:
        """`create` from a file on disk, copied in blocks (a large batch output never sits in memory)."""
        file: dict[str, Any] = {
            "id": object_id(),
            "bytes": path.stat().st_size,
            "created_at": int(self.clock.now()),
            "filename": filename,
            "object": "file",
            "purpose": purpose,
        }
        self.store.put_blob_file(file["id"], path)
        return self.store.put(FILE_KIND, file)

    def iter_content(self, file_id: str) -> Iterator[bytes]:
        """A file's contents in blocks (404 at once if there is no such file)."""
        self.get(file_id)
        return self.store.iter_blob(file_id)

    def iter_lines(self, file_id: str, *, start: int = 0) -> Iterator[bytes]:
        """A file's lines from byte offset `start` (each with its newline)."""
        self.get(file_id)
        return self.store.iter_blob_lines(file_id, start=start)

    def get(self, file_id: str) -> dict[str, Any]:
        file = self.store.get(FILE_KIND, file_id)
        if file is None:
            raise not_found("file", file_id, param="file_id")
        return file

    def content(self, file_id: str) -> bytes:
        self.get(file_id)
        return self.store.get_blob(file_id) or b""

    def delete(self, file_id: str) -> dict[str, Any]:
        self.get(file_id)
        self.store.delete(FILE_KIND, file_id)
        self.store.delete_blob(file_id)
        return {"id": file_id, "object": "file", "deleted": True}

    def list(self, purpose: str | None = None) -> list[dict[str, Any]]:
        return [f for f in self.store.list(FILE_KIND) if purpose is None or f["purpose"] == purpose]

    # -- uploads (large files in parts, as in OpenAI's Uploads API) ----------------------------
    def create_upload(self, filename: str, purpose: str, size: int, mime_type: str) -> dict[str, Any]:
        _check_purpose(purpose)
        now = int(self.clock.now())
        upload = {
            "id": self._id("upload"),
            "object": "upload",
            "bytes": size,
            "created_at": now,
            "filename": filename,
            "purpose": purpose,
            "status": "pending",
            "expires_at": now + UPLOAD_TTL_SECONDS,
            "file": None,
            "_mime_type": mime_type,
            "_parts": [],
        }
        return self.store.put(UPLOAD_KIND, upload)

    def _pending_upload(self, upload_id: str) -> dict[str, Any]:
        upload = self.store.get(UPLOAD_KIND, upload_id)
        if upload is None:
            raise not_found("upload", upload_id, param="upload_id")
        if upload["status"] != "pending":
            raise bad_request(f"Upload {upload_id} is {upload['status']}, not pending.", param="upload_id")
        return upload

    def add_part(self, upload_id: str, data: bytes) -> dict[str, Any]:
        upload = self._pending_upload(upload_id)
        part: dict[str, Any] = {
            "id": self._id("part"),
            "object": "upload.part",
            "created_at": int(self.clock.now()),
            "upload_id": upload_id,
        }
        self.store.put_blob(part["id"], data)
        upload["_parts"].append(part["id"])
        self.store.put(UPLOAD_KIND, upload)
        return part

    def complete_upload(self, upload_id: str, part_ids: Sequence[str]) -> dict[str, Any]:
        upload = self._pending_upload(upload_id)
        unknown = [p for p in part_ids if p not in upload["_parts"]]
        if unknown:
            raise bad_request(f"Unknown part ids for this upload: {', '.join(unknown)}.", param="part_ids")
        content = b"".join(self.store.get_blob(p) or b"" for p in part_ids)
        if len(content) != upload["bytes"]:
            raise bad_request(
                f"The parts add up to {len(content)} bytes, but the upload declared {upload['bytes']}.",
                param="part_ids",
            )
        upload["file"] = self.create(content, self._stored_name(upload["filename"]), upload["purpose"])
        upload["status"] = "completed"
        return self.store.put(UPLOAD_KIND, upload)

    def cancel_upload(self, upload_id: str) -> dict[str, Any]:
        upload = self._pending_upload(upload_id)
        upload["status"] = "cancelled"
        return self.store.put(UPLOAD_KIND, upload)


def _check_purpose(purpose: str) -> str:
    if purpose not in UPLOAD_PURPOSES:
        raise bad_request(f"`purpose` must be `batch` or `fine-tune`, got {purpose!r}.", param="purpose")
    return purpose
