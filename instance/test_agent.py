"""Tests of instance/agent.py, offline: `python3 -m unittest instance/test_agent.py` (or from
instance/, `python3 -m unittest test_agent`).

The archiver runs as its own process on a free loopback port with a temporary workspace; a
stdlib HTTP server on another port plays S3 and records what was PUT to it. Where a test plays
the candidate (another user, in the same network namespace), it runs as uid 1001 when the tests
run as root, as CI does.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import agent  # noqa: E402 (after the path is set)

PASSWORD = "Pw-7c1f9e2d-not-in-any-log"
TOKEN = "Tk-3e9a0b7c5d1f-archiver-only"
CANDIDATE_UID = 1001
INTERVIEW = "k7mq2xw9ab3c"
SIGNATURE = "f00dfacecafe5ecret5ignature"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeS3:
    """A PUT target: records each upload, answers `status`."""

    def __init__(self) -> None:
        self.uploads: list[tuple[str, dict, bytes]] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_PUT(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.uploads.append((self.path, dict(self.headers), body))
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802 (serves starter bundles for unpack)
                body = outer.bundle
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

        self.bundle: bytes | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, key: str = f"{INTERVIEW}/workspace.tar.gz") -> str:
        return (
            f"http://127.0.0.1:{self.port}/prequel-prod-history/{key}"
            f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature={SIGNATURE}"
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ArchiveAgentTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.TemporaryDirectory()
        cls.workspace = os.path.join(cls.tmp.name, "workspace")
        os.makedirs(os.path.join(cls.workspace, "src", "deep"))
        with open(os.path.join(cls.workspace, "README.md"), "w") as f:
            f.write("# the candidate's notes\n")
        with open(os.path.join(cls.workspace, "src", "deep", "solution.py"), "w") as f:
            f.write("print('hello')\n")
        os.symlink("/etc/passwd", os.path.join(cls.workspace, "link"))
        os.mkfifo(os.path.join(cls.workspace, "a-fifo"))
        # A folder swapped for a link to somewhere the candidate wants archived.
        os.symlink("/etc", os.path.join(cls.workspace, "swapped"))
        cls.s3 = FakeS3()
        cls.port = free_port()
        cls.log = open(os.path.join(cls.tmp.name, "agent.log"), "w+")
        env = dict(
            os.environ,
            PREQUEL_ARCHIVE_TOKEN=TOKEN,
            PREQUEL_WORKSPACE=cls.workspace,
            PREQUEL_WORKSPACE_OWNER=f"{os.getuid()}:{os.getgid()}",
            PREQUEL_AGENT_PORT=str(cls.port),
            PREQUEL_AGENT_BIND="0.0.0.0",
            PREQUEL_INTERVIEW_ID=INTERVIEW,
        )
        env.pop("PREQUEL_CHALLENGE_URL", None)
        cls.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "agent.py"), "archiver"],
            env=env,
            stdout=cls.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                status, _ = cls.request("GET", "/healthz")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or cls.proc.poll() is not None:
                raise RuntimeError("the agent did not start")
            time.sleep(0.05)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.proc.terminate()
        cls.proc.wait(timeout=10)
        cls.s3.close()
        cls.log.close()
        cls.tmp.cleanup()

    @classmethod
    def request(cls, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", cls.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def archive(self, token: str | None, body: bytes):
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.request("POST", "/archive", body, headers)

    def setUp(self) -> None:
        self.s3.uploads.clear()
        self.s3.status = 200

    def test_archive_uploads_the_workspace_and_answers_its_size(self) -> None:
        status, body = self.archive(TOKEN, json.dumps({"upload_url": self.s3.url()}).encode())
        self.assertEqual(status, 200, body)
        self.assertEqual(len(self.s3.uploads), 1)
        path, headers, uploaded = self.s3.uploads[0]
        self.assertTrue(path.startswith(f"/prequel-prod-history/{INTERVIEW}/workspace.tar.gz?"))
        self.assertEqual(headers.get("Content-Type"), "application/gzip")
        self.assertEqual(
            json.loads(body), {"bytes": len(uploaded), "skipped": 1, "complete": True}
        )
        with tarfile.open(fileobj=io.BytesIO(uploaded), mode="r:gz") as tar:
            members = {m.name: m for m in tar.getmembers()}
            self.assertEqual(
                set(members),
                {
                    INTERVIEW,
                    f"{INTERVIEW}/README.md",
                    f"{INTERVIEW}/link",
                    f"{INTERVIEW}/swapped",
                    f"{INTERVIEW}/src",
                    f"{INTERVIEW}/src/deep",
                    f"{INTERVIEW}/src/deep/solution.py",
                    f"{INTERVIEW}/{agent.NOTES_FILE}",
                },
                "entries under the interview id; the FIFO is skipped, nothing behind a link",
            )
            solution = tar.extractfile(members[f"{INTERVIEW}/src/deep/solution.py"]).read()
            self.assertEqual(solution, b"print('hello')\n")
            self.assertTrue(members[f"{INTERVIEW}/link"].issym(), "links are archived as links")
            swapped = members[f"{INTERVIEW}/swapped"]
            self.assertTrue(swapped.issym() and swapped.linkname == "/etc", "never followed")
            notes = tar.extractfile(members[f"{INTERVIEW}/{agent.NOTES_FILE}"]).read().decode()
            self.assertIn(f"{INTERVIEW}/a-fifo: not a file, folder or link", notes)

    def test_a_missing_or_wrong_token_is_401(self) -> None:
        body = json.dumps({"upload_url": self.s3.url()}).encode()
        for token in (None, "", "wrong", TOKEN + "x", TOKEN[:-1], PASSWORD):
            with self.subTest(token=token):
                status, _ = self.archive(token, body)
                self.assertEqual(status, 401)
        status, _ = self.request("POST", "/archive", body, {"Authorization": f"Basic {TOKEN}"})
        self.assertEqual(status, 401, "only a bearer token")
        self.assertEqual(self.s3.uploads, [], "nothing is uploaded without the token")

    def test_a_bad_body_is_400(self) -> None:
        for body in (
            b"not json",
            b"{}",
            b'{"upload_url": 7}',
            b'{"upload_url": "file:///etc/passwd"}',
            b"[]",
        ):
            with self.subTest(body=body):
                status, _ = self.archive(TOKEN, body)
                self.assertEqual(status, 400)
        status, _ = self.request("POST", "/archive", None, {"Authorization": f"Bearer {TOKEN}"})
        self.assertEqual(status, 400, "no body at all")
        self.assertEqual(self.s3.uploads, [])

    def test_a_refused_or_unreachable_upload_is_502(self) -> None:
        self.s3.status = 403
        status, body = self.archive(TOKEN, json.dumps({"upload_url": self.s3.url()}).encode())
        self.assertEqual(status, 502, body)
        unreachable = f"http://127.0.0.1:{free_port()}/x?X-Amz-Signature={SIGNATURE}"
        status, body = self.archive(TOKEN, json.dumps({"upload_url": unreachable}).encode())
        self.assertEqual(status, 502, body)
        self.assertNotIn(SIGNATURE.encode(), body, "the answer does not echo the URL")

    def test_health(self) -> None:
        status, _ = self.request("GET", "/healthz")
        self.assertEqual(status, 200)

    @unittest.skipUnless(os.geteuid() == 0 or os.environ.get("CI") == "true", "needs root")
    def test_the_candidate_cannot_take_the_port_while_the_archiver_holds_it(self) -> None:
        """Plays the candidate: another user in the task's network namespace binds the archiver's
        port, on every address and with every reuse option, to catch the bot's request."""
        script = (
            "import socket, sys\n"
            "taken = 0\n"
            "for host in ('0.0.0.0', '127.0.0.1'):\n"
            "    for opt in (socket.SO_REUSEADDR, socket.SO_REUSEPORT):\n"
            "        s = socket.socket()\n"
            "        s.setsockopt(socket.SOL_SOCKET, opt, 1)\n"
            "        try:\n"
            f"            s.bind((host, {self.port})); s.listen(); taken += 1\n"
            "        except OSError:\n"
            "            pass\n"
            "print(taken)\n"
        )
        # The system's Python: the test's own may live where the candidate's user cannot read.
        done = subprocess.run(
            ["/usr/bin/python3", "-c", script],
            user=CANDIDATE_UID,
            group=CANDIDATE_UID,
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.assertEqual(done.stdout.strip(), "0", done.stderr)
        status, _ = self.request("GET", "/healthz")
        self.assertEqual(status, 200, "the archiver still answers")

    def test_zz_nothing_secret_is_ever_logged(self) -> None:
        # Runs last (name order): by now every case above has gone through the agent.
        self.archive(TOKEN, json.dumps({"upload_url": self.s3.url()}).encode())
        self.archive("wrong", json.dumps({"upload_url": self.s3.url()}).encode())
        time.sleep(0.2)
        self.log.flush()
        self.log.seek(0)
        output = self.log.read()
        self.assertIn("archived", output, "the agent does log what it did")
        for secret in (TOKEN, SIGNATURE, "X-Amz", "prequel-prod-history", "127.0.0.1:" + str(self.s3.port)):
            self.assertNotIn(secret, output)


class ArchiverStartTest(unittest.TestCase):
    """How the archiver starts: unpacking, handing over, failing closed."""

    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.workspace = os.path.join(self.tmp.name, "workspace")
        self.s3 = FakeS3()
        self.files = {"README.md": b"hello\n", "src/main.py": b"print(1)\n"}
        self.s3.bundle = deterministic_bundle(self.files)
        self.port = free_port()
        self.env = dict(
            os.environ,
            PREQUEL_ARCHIVE_TOKEN=TOKEN,
            PREQUEL_WORKSPACE=self.workspace,
            PREQUEL_AGENT_PORT=str(self.port),
            PREQUEL_AGENT_BIND="127.0.0.1",
            PREQUEL_INTERVIEW_ID=INTERVIEW,
            PREQUEL_CHALLENGE_URL=self.s3.url("python/starter.tar.gz"),
            PREQUEL_CHALLENGE_CHECKSUM=agent.bundle_checksum(self.files),
            PREQUEL_WORKSPACE_OWNER=f"{CANDIDATE_UID}:{CANDIDATE_UID}",
        )
        self.proc: subprocess.Popen | None = None

    def tearDown(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.s3.close()
        self.tmp.cleanup()

    def start(self) -> subprocess.Popen:
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "agent.py"), "archiver"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        return self.proc

    def healthy(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc and self.proc.poll() is None:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def test_it_unpacks_the_starter_files_and_hands_them_to_the_candidate_before_it_is_healthy(self) -> None:
        self.start()
        self.assertTrue(self.healthy())
        with open(os.path.join(self.workspace, "src", "main.py"), "rb") as f:
            self.assertEqual(f.read(), b"print(1)\n")
        if os.geteuid() == 0:
            for path in ("", "README.md", "src", "src/main.py"):
                st = os.lstat(os.path.join(self.workspace, path))
                self.assertEqual((st.st_uid, st.st_gid), (CANDIDATE_UID, CANDIDATE_UID), path)

    def test_without_its_token_it_refuses_to_start(self) -> None:
        for token in (None, "", "short"):
            with self.subTest(token=token):
                if token is None:
                    self.env.pop("PREQUEL_ARCHIVE_TOKEN", None)
                else:
                    self.env["PREQUEL_ARCHIVE_TOKEN"] = token
                out, _ = self.start().communicate(timeout=30)
                self.assertEqual(self.proc.returncode, 1, out)
                self.assertIn("PREQUEL_ARCHIVE_TOKEN is missing or too short", out)
                self.assertFalse(os.path.exists(os.path.join(self.workspace, "README.md")))

    def test_a_bundle_that_does_not_match_stops_it(self) -> None:
        self.env["PREQUEL_CHALLENGE_CHECKSUM"] = agent.bundle_checksum({"README.md": b"other"})
        out, _ = self.start().communicate(timeout=30)
        self.assertEqual(self.proc.returncode, 1, out)
        self.assertIn("checksum", out)
        self.assertNotIn(SIGNATURE, out)

    def test_a_port_the_candidate_took_first_stops_it_and_so_the_task(self) -> None:
        squatter = socket.socket()
        squatter.bind(("127.0.0.1", self.port))
        squatter.listen()
        try:
            out, _ = self.start().communicate(timeout=30)
        finally:
            squatter.close()
        self.assertNotEqual(self.proc.returncode, 0, out)
        self.assertNotIn(TOKEN, out)


class ArchiveLimitsTest(unittest.TestCase):
    """The walk over a workspace the candidate controls."""

    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.workspace = os.path.join(self.tmp.name, "workspace")
        os.makedirs(self.workspace)

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def members(self, **limits) -> tuple[dict[str, bytes | None], "agent._Budget"]:
        out = io.BytesIO()
        budget = agent.archive_workspace(self.workspace, INTERVIEW, out, **limits)
        out.seek(0)
        with tarfile.open(fileobj=out, mode="r:gz") as tar:
            found = {
                m.name: (tar.extractfile(m).read() if m.isreg() else None) for m in tar.getmembers()
            }
        return found, budget

    def test_past_the_size_limit_files_are_left_out_and_named(self) -> None:
        with open(os.path.join(self.workspace, "small.txt"), "wb") as f:
            f.write(b"x" * 10)
        with open(os.path.join(self.workspace, "big.bin"), "wb") as f:
            f.write(b"y" * 1000)
        found, budget = self.members(max_bytes=100)
        self.assertFalse(budget.complete)
        self.assertEqual(found[f"{INTERVIEW}/small.txt"], b"x" * 10)
        self.assertNotIn(f"{INTERVIEW}/big.bin", found)
        notes = found[f"{INTERVIEW}/{agent.NOTES_FILE}"].decode()
        self.assertIn("big.bin: left out, over the archive's size limit", notes)

    def test_the_walk_stops_at_the_entry_limit(self) -> None:
        for n in range(5):
            open(os.path.join(self.workspace, f"f{n}"), "w").close()
        found, budget = self.members(max_entries=3)
        self.assertFalse(budget.complete)
        self.assertEqual(len([n for n in found if n.startswith(f"{INTERVIEW}/f")]), 3)

    def test_a_workspace_that_is_itself_a_link_is_refused(self) -> None:
        os.rmdir(self.workspace)
        os.symlink("/etc", self.workspace)
        with self.assertRaises(OSError):
            self.members()


def deterministic_bundle(files: dict[str, bytes], executable: frozenset = frozenset()) -> bytes:
    """A starter.tar.gz as `prequel challenges sync` writes it (sorted, regular files only)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for path in sorted(files, key=lambda p: p.encode()):
            info = tarfile.TarInfo(path)
            info.size = len(files[path])
            info.mode = 0o755 if path in executable else 0o644
            tar.addfile(info, io.BytesIO(files[path]))
    return raw.getvalue()


class StarterBundleTest(unittest.TestCase):
    def setUp(self) -> None:
        self.s3 = FakeS3()
        self.tmp = tempfile.TemporaryDirectory()
        self.workspace = os.path.join(self.tmp.name, "workspace")

    def tearDown(self) -> None:
        self.s3.close()
        self.tmp.cleanup()

    def test_the_checksum_is_prequel_cores_bundle_checksum(self) -> None:
        # The vector pinned in prequel-core/src/challenge/mod.rs.
        self.assertEqual(
            agent.bundle_checksum({"README.md": b"hello\n"}),
            "sha256:f37418e2e95c9280e535163db0905ce76c2dcda22cf14496a7129aa29da037e9",
        )
        self.assertNotEqual(agent.bundle_checksum({"ab": b"c"}), agent.bundle_checksum({"a": b"bc"}))

    def test_a_matching_bundle_is_unpacked_with_its_modes(self) -> None:
        files = {"README.md": b"hello\n", "src/main.py": b"print(1)\n", "run.sh": b"#!/bin/sh\n"}
        self.s3.bundle = deterministic_bundle(files, frozenset({"run.sh"}))
        checksum = agent.bundle_checksum(files)
        count = agent.unpack(self.s3.url("python/starter.tar.gz"), checksum, self.workspace)
        self.assertEqual(count, 3)
        with open(os.path.join(self.workspace, "src", "main.py"), "rb") as f:
            self.assertEqual(f.read(), b"print(1)\n")
        self.assertTrue(os.access(os.path.join(self.workspace, "run.sh"), os.X_OK))
        self.assertFalse(os.access(os.path.join(self.workspace, "README.md"), os.X_OK))

    def test_a_bundle_that_does_not_match_is_refused_and_nothing_is_written(self) -> None:
        self.s3.bundle = deterministic_bundle({"README.md": b"tampered\n"})
        expected = agent.bundle_checksum({"README.md": b"hello\n"})
        with self.assertRaises(agent.BundleError) as caught:
            agent.unpack(self.s3.url("python/starter.tar.gz"), expected, self.workspace)
        self.assertIn("checksum", str(caught.exception))
        self.assertNotIn(SIGNATURE, str(caught.exception))
        self.assertFalse(os.path.exists(os.path.join(self.workspace, "README.md")))

    def test_unsafe_entries_are_refused(self) -> None:
        for name, kind in (("../escape.txt", tarfile.REGTYPE), ("/abs.txt", tarfile.REGTYPE), ("link", tarfile.SYMTYPE)):
            with self.subTest(name=name):
                raw = io.BytesIO()
                with tarfile.open(fileobj=raw, mode="w:gz") as tar:
                    info = tarfile.TarInfo(name)
                    info.type = kind
                    info.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else ""
                    tar.addfile(info, io.BytesIO(b""))
                self.s3.bundle = raw.getvalue()
                with self.assertRaises(agent.BundleError):
                    agent.unpack(self.s3.url("x/starter.tar.gz"), "sha256:" + "0" * 64, self.workspace)

    def test_a_download_failure_names_no_url(self) -> None:
        self.s3.bundle = None
        with self.assertRaises(agent.BundleError) as caught:
            agent.unpack(self.s3.url("missing/starter.tar.gz"), "sha256:" + "0" * 64, self.workspace)
        self.assertIn("HTTP 404", str(caught.exception))
        self.assertNotIn(SIGNATURE, str(caught.exception))


FAKE_CODE_SERVER = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["FAKE_RECORD"], "w") as f:
    json.dump({"argv": sys.argv[1:], "env": dict(os.environ)}, f)
"""


class EntrypointTest(unittest.TestCase):
    """entrypoint.sh (the candidate's container) with a fake `code-server` on PATH that records
    how it was started."""

    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.home = os.path.join(self.tmp.name, "home")
        bin_dir = os.path.join(self.tmp.name, "bin")
        os.makedirs(os.path.join(self.home, "workspace"))
        os.makedirs(bin_dir)
        fake = os.path.join(bin_dir, "code-server")
        with open(fake, "w") as f:
            f.write(FAKE_CODE_SERVER)
        os.chmod(fake, 0o755)
        self.record = os.path.join(self.tmp.name, "record.json")
        self.env = dict(
            os.environ,
            HOME=self.home,
            PATH=f"{bin_dir}:{os.environ['PATH']}",
            FAKE_RECORD=self.record,
            PASSWORD=PASSWORD,
            PREQUEL_INTERVIEW_ID=INTERVIEW,
            PREQUEL_DESTROY_AT="2026-11-23T12:00:00Z",
        )
        for name in ("PREQUEL_WORKSPACE", "PREQUEL_CHALLENGE_URL", "PREQUEL_ARCHIVE_TOKEN"):
            self.env.pop(name, None)

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def run_entrypoint(self) -> subprocess.CompletedProcess:
        done = subprocess.run(
            ["bash", os.path.join(HERE, "entrypoint.sh")],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertNotIn(PASSWORD, done.stdout + done.stderr)
        self.assertNotIn(TOKEN, done.stdout + done.stderr)
        self.assertNotIn(SIGNATURE, done.stdout + done.stderr)
        return done

    def test_execs_code_server_on_the_shared_workspace_with_the_password(self) -> None:
        done = self.run_entrypoint()
        self.assertEqual(done.returncode, 0, done.stderr)
        with open(self.record) as f:
            started = json.load(f)
        argv = started["argv"]
        for flag in (["--bind-addr", "0.0.0.0:8080"], ["--auth", "password"]):
            self.assertIn(flag, [argv[i : i + 2] for i in range(len(argv) - 1)])
        self.assertIn("--disable-telemetry", argv)
        self.assertEqual(argv[-1], os.path.join(self.home, "workspace"))
        self.assertEqual(started["env"]["PASSWORD"], PASSWORD, "code-server reads PASSWORD")

    def test_the_archivers_url_or_token_in_its_environment_stops_it(self) -> None:
        for name, value in (
            ("PREQUEL_CHALLENGE_URL", f"https://s3/x?X-Amz-Signature={SIGNATURE}"),
            ("PREQUEL_ARCHIVE_TOKEN", TOKEN),
        ):
            with self.subTest(name=name):
                env = dict(self.env, **{name: value})
                saved, self.env = self.env, env
                try:
                    done = self.run_entrypoint()
                finally:
                    self.env = saved
                self.assertNotEqual(done.returncode, 0)
                self.assertIn(f"{name} reached the candidate's container", done.stderr)
                self.assertFalse(os.path.exists(self.record), "code-server must not start")

    def test_a_missing_password_or_workspace_stops_the_container(self) -> None:
        del self.env["PASSWORD"]
        done = self.run_entrypoint()
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("PASSWORD", done.stderr)
        self.env["PASSWORD"] = PASSWORD
        os.rmdir(os.path.join(self.home, "workspace"))
        done = self.run_entrypoint()
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("workspace", done.stderr)
        self.assertFalse(os.path.exists(self.record))


if __name__ == "__main__":
    unittest.main()
