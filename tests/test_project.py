"""T1: representative variants pass their own `make check`, on SQLite and on PostgreSQL; the
default project's README first run works (migrate, create an admin, serve, call /me with the
printed key, and with a Clerk session token checked against a JWKS served on loopback), and a
schemathesis run finds no server error and no schema break."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_copie.plugin import Copie

from tests.dockerfile import ImageEmulator, image_command
from tests.helpers import (
    REPRESENTATIVE_VARIANTS,
    answer,
    project_env,
    rendered_project,
    run,
    variant_params,
)

pytestmark = pytest.mark.slow

DEFAULT: dict[str, object] = {}


@pytest.fixture(scope="module")
def default_project(copie_session: Copie) -> Path:
    project = rendered_project(copie_session.copy(extra_answers=DEFAULT))
    run(["make", "install"], project, project_env(answer(project, "python_version")))
    return project


@pytest.fixture(scope="module", params=variant_params())
def variant_project(request: pytest.FixtureRequest, copie_session: Copie) -> Path:
    answers = REPRESENTATIVE_VARIANTS[request.param]
    project = rendered_project(copie_session.copy(extra_answers=answers))
    run(["make", "install"], project, project_env(answer(project, "python_version")))
    return project


def postgres_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL tier: export TEST_DATABASE_URL")
        pytest.skip("TEST_DATABASE_URL is not set; the PostgreSQL tier did not run")
    return url


def test_make_check_on_sqlite(variant_project: Path) -> None:
    env = project_env(answer(variant_project, "python_version"))
    env.pop("TEST_DATABASE_URL", None)
    result = run(["make", "check"], variant_project, env)
    assert "database: SQLite" in result.stdout
    assert " passed" in result.stdout


def test_make_check_on_postgresql(variant_project: Path) -> None:
    url = postgres_url()
    env = project_env(answer(variant_project, "python_version"), TEST_DATABASE_URL=url)
    result = run(["make", "check"], variant_project, env)
    assert "database: PostgreSQL" in result.stdout
    assert " passed" in result.stdout


def test_images_work_as_built(variant_project: Path, tmp_path: Path) -> None:
    """The images, rebuilt without Docker from the Dockerfile's own steps on the project's lock:
    the migrations image migrates; the api serves with its command, creates users with the
    script, and lacks dev tools, Prefect and worker code; the worker image imports its entry
    point."""
    env = project_env(answer(variant_project, "python_version"))
    env.pop("UV_LINK_MODE")
    images = ImageEmulator(variant_project, tmp_path / "images", env)
    prefect = answer(variant_project, "use_prefect")

    root, venv = images.build("migrations")
    database = f"sqlite+aiosqlite:///{tmp_path / 'image.db'}"
    image_env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "DATABASE_URL": database}
    run(image_command(images.stages, "migrations"), root, image_env)
    assert "0001 (head)" in run(["alembic", "current"], root, image_env).stdout

    root, venv = images.build("api")
    assert not (root / "app" / "workers").exists()
    for tool in ("pytest", "ruff", "ty", "prefect"):
        assert not (venv / "bin" / tool).exists(), f"the api image carries {tool}"
    command = image_command(images.stages, "api")
    port = str(free_port())
    command[command.index("--host") + 1] = "127.0.0.1"
    command[command.index("--port") + 1] = port
    with serving(root, {**image_env, "PORT": port}, command) as base:
        assert get(f"{base}/health/ready")[0] == 200
    # The README's way to create a first user in the running stack.
    script = ["python", "-m", "app.scripts.create_user", "--email", "i@example.com"]
    created = json.loads(run(script, root, image_env).stdout.splitlines()[-1])
    assert created["email"] == "i@example.com"

    if prefect:
        root, venv = images.build("worker")
        python = str(venv / "bin" / "python")
        run([python, "-c", "import prefect, app.workers.main"], root, image_env)


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
    server = subprocess.Popen(
        command,
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
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
                raise AssertionError(f"the service did not start:\n{server.communicate()[0]}")
            time.sleep(0.3)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def create_user(project: Path, env: dict[str, str], email: str, role: str) -> dict[str, str]:
    created = run(["make", "create-user", f"EMAIL={email}", f"ROLE={role}"], project, env)
    return json.loads(created.stdout.strip().splitlines()[-1])


@pytest.mark.xdist_group("t1-default")
def test_readme_first_run(default_project: Path) -> None:
    """make migrate, make create-user, make dev, then GET /api/v1/me with the printed key."""
    env = project_env(answer(default_project, "python_version"), PORT=str(free_port()))
    run(["make", "migrate"], default_project, env)
    user = create_user(default_project, env, "a@example.com", "admin")
    assert (user["email"], user["role"]) == ("a@example.com", "admin")

    with serving(default_project, env, ["make", "dev", f"PORT={env['PORT']}"]) as base:
        status, me = get(f"{base}/me", {"X-API-Key": user["api_key"]})
        assert status == 200
        assert (me["id"], me["email"]) == (user["id"], "a@example.com")
        assert get(f"{base}/me", {"X-API-Key": "sk_wrong"})[0] == 401


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


@pytest.mark.xdist_group("t1-default")
def test_clerk_sign_in_first_run(default_project: Path, tmp_path: Path) -> None:
    """The README's Clerk path: settings pointing at a JWKS (served over plain http on the
    loopback interface), make create-user CLERK_ID=..., then GET /api/v1/me with a token."""
    assert answer(default_project, "auth_clerk"), "the default project authenticates with Clerk"
    jwks_port, issuer, party = free_port(), "https://clerk.first-run.test", "https://app.test"
    env = project_env(
        answer(default_project, "python_version"),
        PORT=str(free_port()),
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'clerk.db'}",
        CLERK_ISSUER=issuer,
        CLERK_JWKS_URL=f"http://127.0.0.1:{jwks_port}/jwks.json",
        CLERK_AUTHORIZED_PARTIES=party,
    )
    arguments = [str(tmp_path / "jwks.json"), issuer, "user_2firstrun", party]
    signed = run(["uv", "run", "python", "-c", SIGNER_SCRIPT, *arguments], default_project, env)
    token = signed.stdout.strip().splitlines()[-1]
    run(["make", "migrate"], default_project, env)
    created = run(
        ["make", "create-user", "EMAIL=me@example.com", "ROLE=admin", "CLERK_ID=user_2firstrun"],
        default_project,
        env,
    )
    user = json.loads(created.stdout.strip().splitlines()[-1])
    assert user["clerk_id"] == "user_2firstrun"

    jwks_server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(jwks_port), "--bind", "127.0.0.1"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = ["uv", "run", "uvicorn", "app.api.main:app", "--port", env["PORT"]]
    try:
        with serving(default_project, env, server) as base:
            status, me = get(f"{base}/me", {"Authorization": f"Bearer {token}"})
            assert status == 200, me
            assert (me["id"], me["role"]) == (user["id"], "admin")
            forged = token[: token.rindex(".") + 1] + "A" * 342
            assert get(f"{base}/me", {"Authorization": f"Bearer {forged}"})[0] == 401
    finally:
        jwks_server.terminate()
        jwks_server.wait(timeout=30)


@pytest.mark.xdist_group("t1-default")
def test_schemathesis_finds_no_server_error_and_no_schema_break(
    default_project: Path, tmp_path: Path
) -> None:
    """Property-based requests from the OpenAPI document, as a standard user and as an admin.

    Every check runs except `positive_data_acceptance`: some schema-valid inputs are refused
    by business rules the schema cannot state (an expiry in the past, a reserved e-mail domain).
    """
    env = project_env(
        answer(default_project, "python_version"),
        PORT=str(free_port()),
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}",
        RATE_LIMIT_API_KEY_CREATE="100000/minute",
        API_KEY_MAX_PER_USER="1000",
        ACCESS_LOG="false",
    )
    run(["make", "migrate"], default_project, env)
    standard = create_user(default_project, env, "standard@example.com", "standard")
    admin = create_user(default_project, env, "admin@example.com", "admin")
    # `make serve` is the api image's command (tests/test_static.py holds them equal).
    with serving(default_project, env, ["make", "serve", f"PORT={env['PORT']}"]) as base:
        for caller in (standard, admin):
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "schemathesis.cli",
                    "run",
                    f"{base[:-7]}/openapi.json",
                    "--header",
                    f"X-API-Key: {caller['api_key']}",
                    "--checks",
                    "all",
                    "--exclude-checks",
                    "positive_data_acceptance",
                    "--max-examples",
                    "30",
                    "--seed",
                    "1",
                ],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                check=False,
                timeout=600,
            )
            summary = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
            print(f"schemathesis as {caller['role']}: {summary.group(0) if summary else '?'}")
            assert result.returncode == 0, result.stdout[-15000:] + result.stderr[-5000:]
            assert summary is not None
            assert int(summary.group(1)) > 100
