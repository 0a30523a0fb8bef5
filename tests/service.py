"""A rendered service at work, for the tests that run one: served on a free port, asked over
HTTP, given users and Clerk session tokens, and backed by a throwaway PostgreSQL database."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

from tests.helpers import run


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (http://127.0.0.1 only)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@contextlib.contextmanager
def serving(project: Path, env: dict[str, str], command: list[str]) -> Iterator[str]:
    """Run `command` (which serves on env["PORT"]) until the block ends; yields the API base URL."""
    output = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        command,
        cwd=project,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{env['PORT']}/api/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(urllib.error.URLError, ConnectionError):
                if get(f"{base}/health")[0] == 200:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                output.seek(0)
                raise AssertionError(f"the service did not start:\n{output.read()[-20000:]}")
            time.sleep(0.3)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        output.close()


def create_user(project: Path, env: dict[str, str], email: str, role: str) -> dict[str, str]:
    created = run(["make", "create-user", f"EMAIL={email}", f"ROLE={role}"], project, env)
    return json.loads(created.stdout.strip().splitlines()[-1])


# Run in the rendered project (which has PyJWT): writes a JWKS to argv[1] and prints a session
# token signed by its key for issuer argv[2], user argv[3] and authorized party argv[4].
SIGNER_SCRIPT = """
import json, sys, time
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
jwk = {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": "k1", "alg": "RS256"}
with open(sys.argv[1], "w") as jwks:
    json.dump({"keys": [jwk]}, jwks)
now = int(time.time())
claims = {"iss": sys.argv[2], "sub": sys.argv[3], "azp": sys.argv[4], "iat": now, "exp": now + 600}
print(jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"}))
"""


def psql_url(url: str) -> str:
    """The URL libpq understands (no +asyncpg)."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


def with_database(url: str, name: str) -> str:
    head, _, tail = url.rpartition("/")
    query = "?" + tail.split("?", 1)[1] if "?" in tail else ""
    return f"{head}/{name}{query}"


@contextlib.contextmanager
def temporary_database(url: str, prefix: str = "t") -> Iterator[str]:
    """A new PostgreSQL database on the server of `url` (psql), dropped on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    subprocess.run(["psql", psql_url(url), "-qc", f'CREATE DATABASE "{name}"'], check=True)
    try:
        yield with_database(re.sub(r"^postgres(ql)?://", "postgresql+asyncpg://", url), name)
    finally:
        subprocess.run(
            ["psql", psql_url(url), "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
            check=False,
        )


@contextlib.contextmanager
def clerk_session(
    project: Path, env: dict[str, str], directory: Path, subject: str
) -> Iterator[tuple[str, dict[str, str]]]:
    """A session token for Clerk user `subject`, and the settings that make the service accept
    it: a JWKS served over plain http on the loopback interface while the block runs."""
    jwks_port, issuer, party = free_port(), "https://clerk.tests.example", "https://app.test"
    arguments = [str(directory / "jwks.json"), issuer, subject, party]
    signed = run(["uv", "run", "python", "-c", SIGNER_SCRIPT, *arguments], project, env)
    settings = {
        "CLERK_ISSUER": issuer,
        "CLERK_JWKS_URL": f"http://127.0.0.1:{jwks_port}/jwks.json",
        "CLERK_AUTHORIZED_PARTIES": party,
    }
    jwks_server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(jwks_port), "--bind", "127.0.0.1"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield signed.stdout.strip().splitlines()[-1], settings
    finally:
        jwks_server.terminate()
        jwks_server.wait(timeout=30)


class Proxy:
    """A TCP proxy on a free loopback port to `target`, which can stop forwarding (`freeze`:
    connections stay open and nothing answers, as behind a stuck network) and refuse
    connections (`close`)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.flowing = threading.Event()
        self.flowing.set()
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        self.flowing.clear()

    def thaw(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        """Refuse new connections and cut the open ones."""
        # A thread blocked in accept() keeps a merely closed socket listening: shut it down.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            self.connections += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                self.flowing.wait()
                sink.sendall(chunk)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
