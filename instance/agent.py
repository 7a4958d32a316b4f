#!/usr/bin/env python3
"""The interview task's archiver: unpacks the starter bundle, and archives the workspace.

Python 3 standard library only (the image has Python anyway). It runs in a container of its own
beside the candidate's code-server (see README.md): as another user, with its own token, and the
workspace on a volume both share. The candidate can neither see nor signal it (another PID
namespace), nor read its token (another container's environment), nor take its port (it listens
before code-server starts, and its exit stops the task).

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

``agent.py archiver``
    The archiver container's command. With ``$PREQUEL_CHALLENGE_URL`` set, unpacks the bundle
    (as ``unpack``, checked against ``$PREQUEL_CHALLENGE_CHECKSUM``) into ``$PREQUEL_WORKSPACE``
    and, run as root, hands the workspace to ``$PREQUEL_WORKSPACE_OWNER`` (``1001:1001``, the
    candidate's user); a bad bundle stops it, and with it the task. Then it serves, on
    ``0.0.0.0:$PREQUEL_AGENT_PORT`` (8081): ``GET /healthz`` answers ``200`` (the candidate's
    container starts only once it does); ``POST /archive`` with ``Authorization: Bearer
    $PREQUEL_ARCHIVE_TOKEN`` (its own token; without one it refuses to start) and the JSON body
    ``{"upload_url": "<presigned S3 PUT URL>"}`` tars and gzips the workspace (entries under
    ``{interview id}/`` as the local provisioner writes them), PUTs it to the URL with
    ``Content-Type: application/gzip`` and answers ``200 {"bytes": N, "skipped": K,
    "complete": true|false}`` once the upload succeeded; ``401`` for a missing or wrong token
    (compared in constant time), ``400`` for a bad body, ``502`` when the upload failed.

    The workspace is the candidate's, so the walk trusts nothing in it: every folder is opened
    relative to its parent with ``O_NOFOLLOW`` (a folder swapped for a link is never followed),
    links are archived as links, files are opened ``O_NOFOLLOW | O_NONBLOCK`` and read only if
    they are still regular files (a FIFO, socket or device is skipped, never waited on), and the
    walk stops at ``$PREQUEL_ARCHIVE_MAX_BYTES`` (1 GiB) of file contents or 200,000 entries.
    What was skipped, and why, is listed in ``PREQUEL-ARCHIVE-NOTES.txt`` inside the archive.
    It never logs the URL or the token.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import posixpath
import stat
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BUNDLE_MAGIC = b"prequel-bundle-v1\n"
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
MAX_REQUEST_BYTES = 64 * 1024
UPLOAD_TIMEOUT_SECONDS = 300
DEFAULT_MAX_ARCHIVE_BYTES = 1024 * 1024 * 1024
MAX_ARCHIVE_ENTRIES = 200_000
MIN_TOKEN_CHARS = 16
NOTES_FILE = "PREQUEL-ARCHIVE-NOTES.txt"


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


class _Budget:
    """What the walk may still take, and what it left out."""

    def __init__(self, max_bytes: int, max_entries: int) -> None:
        self.bytes_left = max_bytes
        self.entries_left = max_entries
        self.skipped: list[str] = []
        self.complete = True


class _Exact(io.RawIOBase):
    """Reads exactly ``size`` bytes of ``handle``: zeros if it shrank meanwhile, so the tar entry
    keeps the size its header promised."""

    def __init__(self, handle, size: int) -> None:
        self.handle = handle
        self.left = size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if n < 0 else min(n, self.left)
        data = self.handle.read(n) or b""
        if len(data) < n:
            data += bytes(n - len(data))
        self.left -= len(data)
        return data


def _info(arcname: str, st: os.stat_result, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(arcname)
    info.type = kind
    info.mode = stat.S_IMODE(st.st_mode)
    info.mtime = int(st.st_mtime)
    info.uid, info.gid = st.st_uid, st.st_gid
    return info


def _walk(tar: tarfile.TarFile, dir_fd: int, arcdir: str, budget: _Budget) -> None:
    try:
        names = sorted(entry.name for entry in os.scandir(dir_fd))
    except OSError as err:
        budget.skipped.append(f"{arcdir}/: not listed ({err.strerror})")
        return
    for name in names:
        arcname = f"{arcdir}/{name}"
        if budget.entries_left <= 0:
            budget.complete = False
            budget.skipped.append(f"{arcdir}/: stopped at {MAX_ARCHIVE_ENTRIES} entries")
            return
        budget.entries_left -= 1
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError as err:
            budget.skipped.append(f"{arcname}: not read ({err.strerror})")
            continue
        if stat.S_ISLNK(st.st_mode):
            info = _info(arcname, st, tarfile.SYMTYPE)
            try:
                info.linkname = os.readlink(name, dir_fd=dir_fd)
            except OSError as err:
                budget.skipped.append(f"{arcname}: link not read ({err.strerror})")
                continue
            tar.addfile(info)
        elif stat.S_ISDIR(st.st_mode):
            try:
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
            except OSError as err:
                budget.skipped.append(f"{arcname}/: not opened ({err.strerror})")
                continue
            try:
                tar.addfile(_info(arcname, os.fstat(fd), tarfile.DIRTYPE))
                _walk(tar, fd, arcname, budget)
            finally:
                os.close(fd)
        elif stat.S_ISREG(st.st_mode):
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
            except OSError as err:
                budget.skipped.append(f"{arcname}: not opened ({err.strerror})")
                continue
            with os.fdopen(fd, "rb") as handle:
                st = os.fstat(handle.fileno())
                if not stat.S_ISREG(st.st_mode):
                    budget.skipped.append(f"{arcname}: no longer a regular file")
                    continue
                if st.st_size > budget.bytes_left:
                    budget.complete = False
                    budget.skipped.append(f"{arcname}: left out, over the archive's size limit")
                    continue
                budget.bytes_left -= st.st_size
                info = _info(arcname, st, tarfile.REGTYPE)
                info.size = st.st_size
                tar.addfile(info, _Exact(handle, st.st_size))
        else:
            budget.skipped.append(f"{arcname}: not a file, folder or link (skipped)")


def archive_workspace(
    workspace: str,
    prefix: str,
    out,
    max_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES,
    max_entries: int = MAX_ARCHIVE_ENTRIES,
) -> _Budget:
    """Writes a gzipped tar of ``workspace`` (entries under ``prefix/``) to the file ``out``, as
    the module documentation says; answers what was left out."""
    budget = _Budget(max_bytes, max_entries)
    fd = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_info(prefix, os.fstat(fd), tarfile.DIRTYPE))
            _walk(tar, fd, prefix, budget)
            if budget.skipped:
                text = "Left out of this archive:\n" + "".join(f"- {line}\n" for line in budget.skipped)
                data = text.encode("utf-8")
                info = tarfile.TarInfo(f"{prefix}/{NOTES_FILE}")
                info.size = len(data)
                info.mode = 0o644
                info.mtime = int(time.time())
                tar.addfile(info, io.BytesIO(data))
    finally:
        os.close(fd)
    return budget


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
    max_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES
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
                    budget = archive_workspace(self.workspace, self.prefix, out, self.max_bytes)
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
        log(f"archived {size} bytes, {len(budget.skipped)} entries left out")
        self._answer(
            200, {"bytes": size, "skipped": len(budget.skipped), "complete": budget.complete}
        )


def _hand_over(workspace: str, owner: str) -> None:
    """Gives every entry of the workspace to ``owner`` (``uid:gid``), links included."""
    uid, _, gid = owner.partition(":")
    uid_n, gid_n = int(uid), int(gid or uid)
    for root, dirs, files in os.walk(workspace):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), uid_n, gid_n)
    os.lchown(workspace, uid_n, gid_n)


def archiver() -> int:
    """The archiver container: unpack the starter files, hand them over, then serve."""
    token = os.environ.get("PREQUEL_ARCHIVE_TOKEN", "")
    if len(token) < MIN_TOKEN_CHARS:
        log("PREQUEL_ARCHIVE_TOKEN is missing or too short (the task definition's secret from SSM)")
        return 1
    workspace = os.environ.get("PREQUEL_WORKSPACE", "/workspace")
    # Dropped from this process's environment at once: nothing it starts inherits it.
    url = os.environ.pop("PREQUEL_CHALLENGE_URL", "")
    os.makedirs(workspace, exist_ok=True)
    if url:
        try:
            count = unpack(url, os.environ.get("PREQUEL_CHALLENGE_CHECKSUM", ""), workspace)
        except BundleError as err:
            log(f"starter bundle refused: {err}")
            return 1
        log(f"unpacked {count} starter files")
    else:
        log("no PREQUEL_CHALLENGE_URL: the workspace starts empty")
    owner = os.environ.get("PREQUEL_WORKSPACE_OWNER", "1001:1001")
    if os.geteuid() == 0:
        _hand_over(workspace, owner)
    serve(token.encode("utf-8"), workspace)
    return 0


def serve(token: bytes, workspace: str) -> None:
    port = int(os.environ.get("PREQUEL_AGENT_PORT", "8081"))
    bind = os.environ.get("PREQUEL_AGENT_BIND", "0.0.0.0")
    Agent.token = token
    Agent.workspace = workspace
    Agent.prefix = os.environ.get("PREQUEL_INTERVIEW_ID") or "workspace"
    Agent.max_bytes = int(os.environ.get("PREQUEL_ARCHIVE_MAX_BYTES", DEFAULT_MAX_ARCHIVE_BYTES))
    server = ThreadingHTTPServer((bind, port), Agent)
    server.daemon_threads = True
    log(f"listening on {bind}:{server.server_address[1]}")
    server.serve_forever()


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[1] == "archiver":
        return archiver()
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
