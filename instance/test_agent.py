"""Tests of instance/agent.py, offline: `python3 -m unittest instance/test_agent.py` (or from
instance/, `python3 -m unittest test_agent`).

The archive agent runs as its own process on a free loopback port with a temporary workspace;
a stdlib HTTP server on another port plays S3 and records what was PUT to it.
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
        cls.s3 = FakeS3()
        cls.port = free_port()
        cls.log = open(os.path.join(cls.tmp.name, "agent.log"), "w+")
        env = dict(
            os.environ,
            PASSWORD=PASSWORD,
            PREQUEL_WORKSPACE=cls.workspace,
            PREQUEL_AGENT_PORT=str(cls.port),
            PREQUEL_AGENT_BIND="127.0.0.1",
            PREQUEL_INTERVIEW_ID=INTERVIEW,
        )
        cls.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "agent.py"), "serve"],
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
        status, body = self.archive(PASSWORD, json.dumps({"upload_url": self.s3.url()}).encode())
        self.assertEqual(status, 200, body)
        self.assertEqual(len(self.s3.uploads), 1)
        path, headers, uploaded = self.s3.uploads[0]
        self.assertTrue(path.startswith(f"/prequel-prod-history/{INTERVIEW}/workspace.tar.gz?"))
        self.assertEqual(headers.get("Content-Type"), "application/gzip")
        self.assertEqual(json.loads(body), {"bytes": len(uploaded)})
        with tarfile.open(fileobj=io.BytesIO(uploaded), mode="r:gz") as tar:
            members = {m.name: m for m in tar.getmembers()}
            self.assertEqual(
                set(members),
                {
                    INTERVIEW,
                    f"{INTERVIEW}/README.md",
                    f"{INTERVIEW}/link",
                    f"{INTERVIEW}/src",
                    f"{INTERVIEW}/src/deep",
                    f"{INTERVIEW}/src/deep/solution.py",
                },
                "entries under the interview id; the FIFO is skipped",
            )
            solution = tar.extractfile(members[f"{INTERVIEW}/src/deep/solution.py"]).read()
            self.assertEqual(solution, b"print('hello')\n")
            self.assertTrue(members[f"{INTERVIEW}/link"].issym(), "links are archived as links")

    def test_a_missing_or_wrong_token_is_401(self) -> None:
        body = json.dumps({"upload_url": self.s3.url()}).encode()
        for token in (None, "", "wrong", PASSWORD + "x", PASSWORD[:-1]):
            with self.subTest(token=token):
                status, _ = self.archive(token, body)
                self.assertEqual(status, 401)
        status, _ = self.request("POST", "/archive", body, {"Authorization": f"Basic {PASSWORD}"})
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
                status, _ = self.archive(PASSWORD, body)
                self.assertEqual(status, 400)
        status, _ = self.request("POST", "/archive", None, {"Authorization": f"Bearer {PASSWORD}"})
        self.assertEqual(status, 400, "no body at all")
        self.assertEqual(self.s3.uploads, [])

    def test_a_refused_or_unreachable_upload_is_502(self) -> None:
        self.s3.status = 403
        status, body = self.archive(PASSWORD, json.dumps({"upload_url": self.s3.url()}).encode())
        self.assertEqual(status, 502, body)
        unreachable = f"http://127.0.0.1:{free_port()}/x?X-Amz-Signature={SIGNATURE}"
        status, body = self.archive(PASSWORD, json.dumps({"upload_url": unreachable}).encode())
        self.assertEqual(status, 502, body)
        self.assertNotIn(SIGNATURE.encode(), body, "the answer does not echo the URL")

    def test_health(self) -> None:
        status, _ = self.request("GET", "/healthz")
        self.assertEqual(status, 200)

    def test_zz_nothing_secret_is_ever_logged(self) -> None:
        # Runs last (name order): by now every case above has gone through the agent.
        self.archive(PASSWORD, json.dumps({"upload_url": self.s3.url()}).encode())
        self.archive("wrong", json.dumps({"upload_url": self.s3.url()}).encode())
        time.sleep(0.2)
        self.log.flush()
        self.log.seek(0)
        output = self.log.read()
        self.assertIn("archived", output, "the agent does log what it did")
        for secret in (PASSWORD, SIGNATURE, "X-Amz", "prequel-prod-history", "127.0.0.1:" + str(self.s3.port)):
            self.assertNotIn(secret, output)


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
    """entrypoint.sh with a fake `code-server` on PATH that records how it was started."""

    def setUp(self) -> None:
        self.s3 = FakeS3()
        self.tmp = tempfile.TemporaryDirectory()
        self.home = os.path.join(self.tmp.name, "home")
        bin_dir = os.path.join(self.tmp.name, "bin")
        os.makedirs(self.home)
        os.makedirs(bin_dir)
        fake = os.path.join(bin_dir, "code-server")
        with open(fake, "w") as f:
            f.write(FAKE_CODE_SERVER)
        os.chmod(fake, 0o755)
        self.record = os.path.join(self.tmp.name, "record.json")
        self.files = {"README.md": b"hello\n", "src/main.py": b"print(1)\n"}
        self.s3.bundle = deterministic_bundle(self.files)
        self.env = dict(
            os.environ,
            HOME=self.home,
            PATH=f"{bin_dir}:{os.environ['PATH']}",
            FAKE_RECORD=self.record,
            PASSWORD=PASSWORD,
            PREQUEL_AGENT=os.path.join(HERE, "agent.py"),
            PREQUEL_AGENT_BIND="127.0.0.1",
            PREQUEL_AGENT_PORT=str(free_port()),
            PREQUEL_INTERVIEW_ID=INTERVIEW,
            PREQUEL_DESTROY_AT="2026-11-23T12:00:00Z",
            PREQUEL_CHALLENGE_URL=self.s3.url("python/starter.tar.gz"),
            PREQUEL_CHALLENGE_CHECKSUM=agent.bundle_checksum(self.files),
        )
        self.env.pop("PREQUEL_WORKSPACE", None)
        self.agents: list[int] = []

    def tearDown(self) -> None:
        for pid in self.agents:
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass
        self.s3.close()
        self.tmp.cleanup()

    def run_entrypoint(self) -> subprocess.CompletedProcess:
        # Output to a file, not a pipe: the agent keeps the entrypoint's stderr open after the
        # (fake) code-server has exited, as it does in the container.
        log_path = os.path.join(self.tmp.name, f"entrypoint-{len(self.agents)}.log")
        with open(log_path, "w") as log:
            code = subprocess.run(
                ["bash", os.path.join(HERE, "entrypoint.sh")],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=60,
            ).returncode
        time.sleep(0.3)
        with open(log_path) as log:
            output = log.read()
        done = subprocess.CompletedProcess([], code, "", output)
        for line in done.stderr.splitlines():
            if "archive agent started (pid " in line:
                self.agents.append(int(line.rsplit("pid ", 1)[1].rstrip(")")))
        self.assertNotIn(PASSWORD, done.stdout + done.stderr)
        self.assertNotIn(SIGNATURE, done.stdout + done.stderr)
        return done

    def test_unpacks_starts_the_agent_and_execs_code_server(self) -> None:
        done = self.run_entrypoint()
        self.assertEqual(done.returncode, 0, done.stderr)
        workspace = os.path.join(self.home, "workspace")
        with open(os.path.join(workspace, "src", "main.py"), "rb") as f:
            self.assertEqual(f.read(), b"print(1)\n")
        with open(self.record) as f:
            started = json.load(f)
        argv = started["argv"]
        for flag in (["--bind-addr", "0.0.0.0:8080"], ["--auth", "password"]):
            self.assertIn(flag, [argv[i : i + 2] for i in range(len(argv) - 1)])
        self.assertIn("--disable-telemetry", argv)
        self.assertEqual(argv[-1], workspace)
        self.assertEqual(started["env"]["PASSWORD"], PASSWORD, "code-server reads PASSWORD")
        self.assertNotIn("PREQUEL_CHALLENGE_URL", started["env"], "the presigned URL is dropped")
        self.assertEqual(len(self.agents), 1, "the archive agent was started")

    def test_a_restart_keeps_the_candidates_work(self) -> None:
        self.assertEqual(self.run_entrypoint().returncode, 0)
        readme = os.path.join(self.home, "workspace", "README.md")
        with open(readme, "w") as f:
            f.write("edited by the candidate")
        self.assertEqual(self.run_entrypoint().returncode, 0)
        with open(readme) as f:
            self.assertEqual(f.read(), "edited by the candidate")

    def test_a_bundle_with_the_wrong_checksum_stops_the_container(self) -> None:
        self.env["PREQUEL_CHALLENGE_CHECKSUM"] = agent.bundle_checksum({"README.md": b"other"})
        done = self.run_entrypoint()
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("checksum", done.stderr)
        self.assertFalse(os.path.exists(self.record), "code-server must not start")

    def test_a_missing_password_stops_the_container(self) -> None:
        del self.env["PASSWORD"]
        done = self.run_entrypoint()
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("PASSWORD", done.stderr)
        self.assertFalse(os.path.exists(self.record))


if __name__ == "__main__":
    unittest.main()
