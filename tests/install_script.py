"""Runs scripts/install.sh (which the GitHub Action in action.yml uses) against a fake release.

    python tests/install_script.py        (scripts/test runs it with the test venv's python)

A local HTTP server on a free 127.0.0.1 port serves a GitHub-like release layout (what
cargo-dist publishes: deployer-<target>.tar.gz and deployer-<target>.tar.gz.sha256 under
<owner>/<repo>/releases/download/<tag>/, and releases/latest redirecting to releases/tag/<tag>).
The script must install the binary when the checksum matches, and refuse with a clear message,
leaving no binary behind, when it does not.
"""

import hashlib
import http.server
import io
import os
import platform
import shutil
import subprocess
import tarfile
import tempfile
import threading
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "install.sh"
REPOSITORY = "example/deployer"
TAG = "v9.8.7"
FAKE_BINARY = b"#!/bin/sh\necho 'deployer 9.8.7 (commit 0123456789ab)'\n"


def host_target():
    """The Rust target install.sh picks on this machine."""
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}[
        platform.machine().lower()
    ]
    system = platform.system()
    if system == "Linux":
        return f"{arch}-unknown-linux-musl"
    if system == "Darwin":
        return f"{arch}-apple-darwin"
    raise unittest.SkipTest(f"install.sh is tested on Linux and macOS, not {system}")


def release_archive(target):
    """A .tar.gz laid out as cargo-dist makes it: deployer-<target>/deployer."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        info = tarfile.TarInfo(f"deployer-{target}/deployer")
        info.size = len(FAKE_BINARY)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(FAKE_BINARY))
        readme = b"deployer\n"
        info = tarfile.TarInfo(f"deployer-{target}/README.md")
        info.size = len(readme)
        tar.addfile(info, io.BytesIO(readme))
    return data.getvalue()


class FakeGitHub(http.server.SimpleHTTPRequestHandler):
    """Serves the release directory; releases/latest redirects to the newest tag, as GitHub."""

    def do_GET(self):
        if self.path == f"/{REPOSITORY}/releases/latest":
            self.send_response(302)
            self.send_header("Location", f"/{REPOSITORY}/releases/tag/{TAG}")
            self.end_headers()
            return
        if self.path == f"/{REPOSITORY}/releases/tag/{TAG}":
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args):
        pass


class InstallScript(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.target = host_target()
        cls.served = tempfile.TemporaryDirectory()
        cls.release = Path(cls.served.name) / REPOSITORY / "releases" / "download" / TAG
        cls.release.mkdir(parents=True)
        handler = lambda *args, **kwargs: FakeGitHub(*args, directory=cls.served.name, **kwargs)
        # Port 0: the system picks a free port.
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        cls.thread = threading.Thread(target=cls.server.serve_forever, daemon=True)
        cls.thread.start()
        cls.url = f"http://127.0.0.1:{cls.server.server_address[1]}"

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()
        cls.served.cleanup()

    def setUp(self):
        self.work = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.work)
        self.dest = self.work / "bin"
        self.archive = self.release / f"deployer-{self.target}.tar.gz"
        self.archive.write_bytes(release_archive(self.target))
        self.write_checksum(hashlib.sha256(self.archive.read_bytes()).hexdigest())

    def write_checksum(self, digest):
        # The format sha256sum (and cargo-dist) write: "<hex>  <file name>".
        (self.release / f"{self.archive.name}.sha256").write_text(f"{digest}  {self.archive.name}\n")

    def install(self, *args):
        env = dict(
            os.environ,
            DEPLOYER_GITHUB_URL=self.url,
            DEPLOYER_REPOSITORY=REPOSITORY,
            HOME=str(self.work),
        )
        env.pop("DEPLOYER_VERSION", None)
        env.pop("DEPLOYER_INSTALL_DIR", None)
        return subprocess.run(
            ["sh", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60
        )

    def test_good_checksum_installs_the_binary(self):
        result = self.install("--version", TAG, "--to", str(self.dest))
        self.assertEqual(result.returncode, 0, result.stderr)
        installed = self.dest / "deployer"
        self.assertEqual(installed.read_bytes(), FAKE_BINARY)
        self.assertTrue(os.access(installed, os.X_OK))
        self.assertIn("checksum verified", result.stderr)
        self.assertIn(f"installed {installed} ({TAG}, {self.target})", result.stderr)
        self.assertEqual(sorted(p.name for p in self.dest.iterdir()), ["deployer"])
        run = subprocess.run([str(installed)], capture_output=True, text=True)
        self.assertEqual(run.stdout.strip(), "deployer 9.8.7 (commit 0123456789ab)")

    def test_bad_checksum_installs_nothing_and_says_why(self):
        self.write_checksum("0" * 64)
        result = self.install("--version", TAG, "--to", str(self.dest))
        self.assertEqual(result.returncode, 1, result.stderr)
        actual = hashlib.sha256(self.archive.read_bytes()).hexdigest()
        self.assertIn(
            f"error: checksum mismatch for {self.archive.name}: expected {'0' * 64}, got {actual}",
            result.stderr,
        )
        self.assertIn("nothing was installed", result.stderr)
        self.assertFalse(self.dest.exists() and any(self.dest.iterdir()), "left something behind")

    def test_a_bad_checksum_does_not_replace_an_installed_binary(self):
        self.dest.mkdir()
        (self.dest / "deployer").write_bytes(b"the old one")
        self.write_checksum("f" * 64)
        result = self.install("--version", TAG, "--to", str(self.dest))
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertEqual(sorted(p.name for p in self.dest.iterdir()), ["deployer"])
        self.assertEqual((self.dest / "deployer").read_bytes(), b"the old one")

    def test_a_missing_checksum_file_installs_nothing(self):
        (self.release / f"{self.archive.name}.sha256").unlink()
        result = self.install("--version", TAG, "--to", str(self.dest))
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn(
            f"could not download {self.url}/{REPOSITORY}/releases/download/{TAG}/"
            f"{self.archive.name}.sha256",
            result.stderr,
        )
        self.assertFalse(self.dest.exists())

    def test_a_release_that_does_not_exist_is_named(self):
        result = self.install("--version", "v0.0.0", "--to", str(self.dest))
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn(f"releases/download/v0.0.0/{self.archive.name}", result.stderr)
        self.assertFalse(self.dest.exists())

    def test_latest_follows_the_redirect_to_the_newest_tag(self):
        result = self.install("--resolve")
        self.assertEqual((result.returncode, result.stdout.strip()), (0, TAG), result.stderr)
        result = self.install("--to", str(self.dest))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(f"({TAG}, {self.target})", result.stderr)
        # The default place, with HOME as given.
        result = self.install()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual((self.work / ".local" / "bin" / "deployer").read_bytes(), FAKE_BINARY)

    def test_unknown_option_is_refused(self):
        result = self.install("--versoin", TAG)
        self.assertEqual(result.returncode, 1)
        self.assertIn("unknown option --versoin", result.stderr)


if __name__ == "__main__":
    unittest.main()
