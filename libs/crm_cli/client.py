"""The public API over urllib3: JSON calls, a multipart upload streamed from disk, downloads
streamed to disk. Errors become ApiError with the problem+json answer spelled out for people."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import urllib3

BLOCK = 256 * 1024
Progress = Callable[[int], None]


class ApiError(Exception):
    """What went wrong, readable as is; `status` is the HTTP status (0: no answer at all)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def describe(status: int, body: bytes) -> str:
    """A problem+json answer as lines: title and detail, then each field's messages."""
    try:
        problem = json.loads(body)
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        text = body.decode("utf-8", "replace").strip()[:500]
        return f"HTTP {status}" + (f": {text}" if text else "")
    lines = [f"{problem.get('title') or 'Error'} (HTTP {status})" + (f": {problem['detail']}" if problem.get("detail") else "")]
    for field, messages in (problem.get("errors") or {}).items():
        lines.append(f"  {field}: {' '.join(messages) if isinstance(messages, list) else messages}")
    if status == 401:
        lines.append("  Check --api-key / CRM_API_KEY.")
    if status == 403 and problem.get("required_scope"):
        lines.append(f"  The API key needs the {problem['required_scope']} scope.")
    return "\n".join(lines)


class Client:
    def __init__(self, base_url: str, api_key: str | None, *, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=10.0, read=timeout), retries=False)

    def _send(self, method: str, path: str, *, retry: bool = True, **kwargs: Any) -> urllib3.BaseHTTPResponse:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        # Reads, and writes carrying an Idempotency-Key, are safe to send again after a network error.
        retries = urllib3.Retry(total=3, backoff_factor=0.5, allowed_methods=None, status_forcelist=(502, 503, 504),
                                raise_on_status=False) if retry else False
        try:
            return self.http.request(method, self.base_url + path, headers=headers, retries=retries, **kwargs)
        except urllib3.exceptions.HTTPError as exc:
            raise ApiError(f"Cannot reach the CRM API at {self.base_url}: {exc}") from exc

    def _json(self, resp: urllib3.BaseHTTPResponse, *expected: int) -> dict[str, Any]:
        if resp.status not in expected:
            raise ApiError(describe(resp.status, resp.data), resp.status)
        return json.loads(resp.data) if resp.data else {}

    def get(self, path: str) -> dict[str, Any]:
        return self._json(self._send("GET", path), 200)

    def post(self, path: str, body: dict[str, Any], *expected: int) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
        return self._json(self._send("POST", path, body=json.dumps(body).encode(), headers=headers), *(expected or (200, 201)))

    def upload(self, path: str, fields: dict[str, str], file: Path, progress: Progress | None = None) -> dict[str, Any]:
        """multipart/form-data with `file` read from disk block by block: the file is never held in
        memory, and the length is known up front (no chunked encoding needed)."""
        boundary = uuid.uuid4().hex
        head = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value.encode() + b"\r\n"
            for name, value in fields.items())
        quoted = file.name.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "")
        head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
                 "Content-Type: text/csv\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        size = os.path.getsize(file)

        def body() -> Iterator[bytes]:
            yield head
            with open(file, "rb") as handle:
                yield from _blocks(handle, progress)
            yield tail

        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}",
                   "Content-Length": str(len(head) + size + len(tail)), "Idempotency-Key": str(uuid.uuid4())}
        # No retries: a generator cannot be sent twice (run the command again instead).
        resp = self._send("POST", path, body=body(), headers=headers, retry=False, preload_content=True)
        return self._json(resp, 202)

    def download(self, path: str, target: Path, started: Callable[[int | None], Progress | None] | None = None) -> int:
        """Stream an answer into `target` (written under a temporary name, renamed when complete);
        `started(content_length)` gives the progress callback once the length is known."""
        resp = self._send("GET", path, preload_content=False)
        try:
            if resp.status != 200:
                raise ApiError(describe(resp.status, resp.read()), resp.status)
            length = resp.headers.get("Content-Length")
            progress = started(int(length) if length else None) if started else None
            partial = target.with_name(target.name + ".part")
            written = 0
            with open(partial, "wb") as out:
                for block in resp.stream(BLOCK):
                    out.write(block)
                    written += len(block)
                    if progress:
                        progress(len(block))
            partial.replace(target)
            return written
        finally:
            resp.release_conn()


def _blocks(handle: BinaryIO, progress: Progress | None) -> Iterator[bytes]:
    while block := handle.read(BLOCK):
        if progress:
            progress(len(block))
        yield block
