#!/usr/bin/env python3
"""The interview instance's helper: unpacks the starter bundle, and archives the workspace.

Python 3 standard library only (the image has Python anyway). Two commands:

``agent.py unpack URL CHECKSUM WORKSPACE``
    Downloads the starter bundle (a gzipped tar from the challenges bucket, fetched with a
    presigned URL), checks it against ``CHECKSUM`` and writes its files into ``WORKSPACE``.
    The checksum is prequel-core's ``bundle_checksum`` (src/challenge/mod.rs): the SHA-256 of
    ``b"prequel-bundle-v1\\n"`` followed, for each file sorted by its path's UTF-8 bytes, by
    ``path · 0x00 · len(contents) as u64 big-endian · contents``, written ``sha256:<hex>``. It
    covers paths and bytes only (not modes or times), so it is recomputed here from the tar's
    members. Nothing is written unless the checksum matches, and the tar is read as
    suspiciously as prequel-core reads it: regular files only (no links or devices), relative
    paths without ``..``, no path twice, at most 64 MiB in all.

``agent.py serve``
    The archive agent, on ``0.0.0.0:$PREQUEL_AGENT_PORT`` (8081). ``POST /archive`` with
    ``Authorization: Bearer <the interview password>`` (``$PASSWORD``) and the JSON body
    ``{"upload_url": "<presigned S3 PUT URL>"}`` tars and gzips the workspace
    (``$PREQUEL_WORKSPACE``; entries under ``{interview id}/`` as the local provisioner writes
    them; symbolic links are kept as links, sockets and FIFOs skipped), PUTs it to the URL with
    ``Content-Type: application/gzip`` and answers ``200 {"bytes": N}`` once the upload
    succeeded; ``401`` for a missing or wrong token (compared in constant time), ``400`` for a
    bad body, ``502`` when the upload failed. ``GET /healthz`` answers ``200``. It never logs
    the URL, the token or the password.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import posixpath
import sys
import tarfile
import tempfile
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BUNDLE_MAGIC = b"prequel-bundle-v1\n"
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
MAX_REQUEST_BYTES = 64 * 1024
UPLOAD_TIMEOUT_SECONDS = 300


def log(message: str) -> None:
    """One line on stderr (the container log). Callers never pass a URL or a secret."""
    print(f"prequel-agent: {message}", file=sys.stderr, flush=True)


# --- The starter bundle -----------------------------------------------------------------------


class BundleError(Exception):
    """The bundle cannot be used; the message names no URL."""


def bundle_checksum(files: dict[str, bytes]) -> str:
    """prequel-core's ``bundle_checksum`` of ``{path: contents}``."""
    digest = hashlib.sha256(BUNDLE_MAGIC)
    for path in sorted(files, key=lambda p: p.encode("utf-8")):
        contents = files[path]
        digest.update(path.encode("utf-8"))
        digest.update(b"\x00")
        digest.update(len(contents).to_bytes(8, "big"))
        digest.update(contents)
    return "sha256:" + digest.hexdigest()


def _bundle_path(name: str) -> str:
    """A tar member's name as a bundle path: relative, `/`-separated, no `..`; `.` dropped."""
    if "\\" in name:
        raise BundleError(f"unsafe path in the bundle: {name!r} holds a backslash")
    if name.startswith("/"):
        raise BundleError(f"unsafe path in the bundle: {name!r} is absolute")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        raise BundleError(f"unsafe path in the bundle: {name!r}")
    return "/".join(parts)


def read_bundle(data: bytes) -> dict[str, tuple[bytes, bool]]:
    """The files of a gzipped tar: ``{path: (contents, executable)}``, checked as documented."""
    files: dict[str, tuple[bytes, bool]] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar:
                if member.isdir():
                    continue
                if not member.isreg():
                    raise BundleError(f"unsafe entry in the bundle: {member.name!r} is not a regular file")
                path = _bundle_path(member.name)
                if path in files:
                    raise BundleError(f"unsafe entry in the bundle: {path!r} appears twice")
                total += member.size
                if total > MAX_BUNDLE_BYTES:
                    raise BundleError(f"the bundle is larger than {MAX_BUNDLE_BYTES} bytes")
                handle = tar.extractfile(member)
                contents = handle.read() if handle else b""
                files[path] = (contents, bool(member.mode & 0o111))
    except (tarfile.TarError, OSError, EOFError) as err:
        raise BundleError(f"the bundle is not a valid gzipped tar ({type(err).__name__})") from None
    return files


def unpack(url: str, checksum: str, workspace: str) -> int:
    """Downloads, checks and writes the starter files; returns how many files were written."""
    if not checksum.startswith("sha256:"):
        raise BundleError("the expected checksum must look like sha256:<hex>")
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (presigned https)
            data = response.read(MAX_BUNDLE_BYTES * 2 + 1)
    except urllib.error.HTTPError as err:
        raise BundleError(f"downloading the bundle failed with HTTP {err.code}") from None
    except (urllib.error.URLError, OSError) as err:
        raise BundleError(f"downloading the bundle failed ({type(err).__name__})") from None
    files = read_bundle(data)
    actual = bundle_checksum({path: contents for path, (contents, _) in files.items()})
    if not hmac.compare_digest(actual, checksum.strip().lower()):
        raise BundleError(f"the bundle's checksum is {actual}, not the expected {checksum}")
    root = os.path.realpath(workspace)
    os.makedirs(root, exist_ok=True)
    for path, (contents, executable) in sorted(files.items()):
        target = os.path.join(root, *path.split("/"))
        if os.path.commonpath([root, os.path.realpath(os.path.dirname(target))]) != root:
            raise BundleError(f"unsafe path in the bundle: {path!r}")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as out:
            out.write(contents)
        os.chmod(target, 0o755 if executable else 0o644)
    return len(files)


# --- The archive agent --------------------------------------------------------------------------


def archive_workspace(workspace: str, prefix: str, out) -> None:
    """Writes a gzipped tar of ``workspace`` (entries under ``prefix/``) to the file ``out``."""

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        # Regular files, folders and links; never sockets, FIFOs or devices.
        if info.isreg() or info.isdir() or info.issym() or info.islnk():
            return info
        return None

    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        tar.add(workspace, arcname=prefix, recursive=True, filter=keep)


def upload(url: str, path: str, size: int) -> None:
    """PUTs the file at ``path`` to ``url``; raises on any failure or non-2xx answer."""
    with open(path, "rb") as body:
        request = urllib.request.Request(
            url,
            data=body,
            method="PUT",
            headers={"Content-Type": "application/gzip", "Content-Length": str(size)},
        )
        with urllib.request.urlopen(request, timeout=UPLOAD_TIMEOUT_SECONDS) as response:  # noqa: S310
            if not 200 <= response.status < 300:
                raise urllib.error.HTTPError("", response.status, "upload refused", response.headers, None)


class Agent(BaseHTTPRequestHandler):
    server_version = "prequel-agent"
    sys_version = ""
    # Set by serve().
    token: bytes = b""
    workspace: str = ""
    prefix: str = "workspace"
    lock = threading.Lock()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        # The base class would log the request line; ours has no secret, but keep it terse.
        pass

    def _answer(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)
        log(f"{self.command} {self.path.split('?')[0]} -> {status}")

    def do_GET(self) -> None:  # noqa: N802 (the base class's name)
        if self.path == "/healthz":
            self._answer(200, {"status": "ok"})
        else:
            self._answer(404, {"error": "not found"})

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        # compare_digest runs in time independent of where the bytes differ.
        return (
            scheme.lower() == "bearer"
            and bool(self.token)
            and hmac.compare_digest(given.strip().encode("utf-8"), self.token)
        )

    def do_POST(self) -> None:  # noqa: N802 (the base class's name)
        if self.path != "/archive":
            self._answer(404, {"error": "not found"})
            return
        if not self._authorized():
            self._answer(401, {"error": "unauthorized"})
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 < length <= MAX_REQUEST_BYTES:
            self._answer(400, {"error": "expected a JSON body with upload_url"})
            return
        try:
            body = json.loads(self.rfile.read(length))
            url = body["upload_url"]
            if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            self._answer(400, {"error": "expected a JSON body with upload_url (an http(s) URL)"})
            return
        if not os.path.isdir(self.workspace):
            self._answer(500, {"error": "the workspace is missing"})
            return
        with self.lock, tempfile.TemporaryDirectory(prefix="prequel-archive-") as tmp:
            path = os.path.join(tmp, "workspace.tar.gz")
            try:
                with open(path, "wb") as out:
                    archive_workspace(self.workspace, self.prefix, out)
            except OSError as err:
                log(f"archiving failed ({type(err).__name__})")
                self._answer(500, {"error": "archiving the workspace failed"})
                return
            size = os.path.getsize(path)
            try:
                upload(url, path, size)
            except urllib.error.HTTPError as err:
                log(f"upload refused with HTTP {err.code}")
                self._answer(502, {"error": f"the upload was refused (HTTP {err.code})"})
                return
            except (urllib.error.URLError, OSError, ValueError) as err:
                log(f"upload failed ({type(err).__name__})")
                self._answer(502, {"error": "the upload failed"})
                return
        log(f"archived {size} bytes")
        self._answer(200, {"bytes": size})


def serve() -> None:
    port = int(os.environ.get("PREQUEL_AGENT_PORT", "8081"))
    bind = os.environ.get("PREQUEL_AGENT_BIND", "0.0.0.0")
    Agent.token = os.environ.get("PASSWORD", "").encode("utf-8")
    Agent.workspace = os.environ.get("PREQUEL_WORKSPACE", "/home/coder/workspace")
    Agent.prefix = os.environ.get("PREQUEL_INTERVIEW_ID") or "workspace"
    if not Agent.token:
        log("PASSWORD is empty: every archive request will be refused")
    server = ThreadingHTTPServer((bind, port), Agent)
    server.daemon_threads = True
    log(f"listening on {bind}:{server.server_address[1]}")
    server.serve_forever()


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[1] == "serve":
        serve()
        return 0
    if len(argv) == 5 and argv[1] == "unpack":
        try:
            count = unpack(argv[2], argv[3], argv[4])
        except BundleError as err:
            log(f"starter bundle refused: {err}")
            return 1
        log(f"unpacked {count} starter files")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
