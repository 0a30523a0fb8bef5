"""T1: a rendered project passes its own `make check`, on SQLite and on PostgreSQL, and the
README's first run (migrate, create an admin, serve, call /me with the printed key) works."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from pytest_copie.plugin import Copie

from tests.helpers import answer, project_env, rendered_project, run

pytestmark = pytest.mark.slow

DEFAULT = {"auth_clerk": False, "use_prefect": False}


@pytest.fixture(scope="module")
def default_project(copie_session: Copie) -> Path:
    project = rendered_project(copie_session.copy(extra_answers=DEFAULT))
    run(["make", "install"], project, project_env(answer(project, "python_version")))
    return project


def postgres_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL tier: export TEST_DATABASE_URL")
        pytest.skip("TEST_DATABASE_URL is not set; the PostgreSQL tier did not run")
    return url


def test_make_check_on_sqlite(default_project: Path) -> None:
    env = project_env(answer(default_project, "python_version"))
    env.pop("TEST_DATABASE_URL", None)
    result = run(["make", "check"], default_project, env)
    assert "database: SQLite" in result.stdout
    assert " passed" in result.stdout


def test_make_check_on_postgresql(default_project: Path) -> None:
    url = postgres_url()
    env = project_env(answer(default_project, "python_version"), TEST_DATABASE_URL=url)
    result = run(["make", "check"], default_project, env)
    assert "database: PostgreSQL" in result.stdout
    assert " passed" in result.stdout


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


def test_readme_first_run(default_project: Path) -> None:
    """make migrate, make create-user, make dev, then GET /api/v1/me with the printed key."""
    env = project_env(answer(default_project, "python_version"))
    run(["make", "migrate"], default_project, env)
    created = run(
        ["make", "create-user", "EMAIL=a@example.com", "ROLE=admin"], default_project, env
    )
    user = json.loads(created.stdout.strip().splitlines()[-1])
    assert user["email"] == "a@example.com"
    assert user["role"] == "admin"

    port = free_port()
    server = subprocess.Popen(
        ["make", "dev", f"PORT={port}"],
        cwd=default_project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if get(f"{base}/health")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"make dev did not serve:\n{server.communicate()[0]}")
            time.sleep(0.3)
        status, me = get(f"{base}/me", {"X-API-Key": user["api_key"]})
        assert status == 200
        assert me["id"] == user["id"]
        assert me["email"] == "a@example.com"
        status, _ = get(f"{base}/me", {"X-API-Key": "sk_wrong"})
        assert status == 401
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
