"""T1: representative variants pass their own `make check`, on SQLite and on PostgreSQL; the
default project's README first run works (migrate, create an admin, serve, call /me with the
printed key, and with a Clerk session token checked against a JWKS served on loopback), and a
schemathesis run finds no server error and no schema break."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_copie.plugin import Copie

from tests.dockerfile import ImageEmulator, image_command
from tests.helpers import (
    CI_MAKE_TARGETS,
    REPRESENTATIVE_VARIANTS,
    answer,
    project_env,
    rendered_project,
    run,
    variant_params,
)
from tests.service import (
    clerk_session,
    create_user,
    free_port,
    get,
    serving,
    temporary_database,
)

pytestmark = pytest.mark.slow


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
    # `make fuzz` alone collects tests/fuzz and loads Hypothesis' plugin: without them, no
    # other run imports schemathesis or Hypothesis (a second or two of every start).
    plugins = re.search(r"^plugins: (.*)$", result.stdout, re.M)
    assert plugins, result.stdout
    assert not re.search(r"hypothesis|schemathesis", plugins[1]), plugins[1]
    assert "deselected" not in result.stdout
    # Prefect's test server keeps its migrated database for the next runs (the CI job below).
    kept = list(variant_project.glob(".pytest_cache/d/prefect-database/prefect-*.db"))
    assert len(kept) == (1 if answer(variant_project, "use_prefect") else 0), kept


def test_the_ci_job_on_postgresql(variant_project: Path) -> None:
    """What the rendered CI's check job runs: `make check` with the coverage floor and fuzz."""
    url = postgres_url()
    # DATABASE_URL as well: the development container (.devcontainer/compose.yml) sets both.
    env = project_env(
        answer(variant_project, "python_version"), TEST_DATABASE_URL=url, DATABASE_URL=url
    )
    result = run(["make", *CI_MAKE_TARGETS], variant_project, env)
    assert "database: PostgreSQL" in result.stdout
    assert re.search(r"Required test coverage of [\d.]+% reached", result.stdout), result.stdout
    assert re.search(r"\b2 passed\b", result.stdout), "make fuzz ran its two tests"


def test_images_work_as_built(variant_project: Path, tmp_path: Path) -> None:
    """The images, rebuilt without Docker from the Dockerfile's own steps on the project's lock:
    the migrations image migrates; the api serves with its command, creates users with the
    script, and lacks dev tools, Prefect and worker code; the worker image imports its entry
    point."""
    env = project_env(answer(variant_project, "python_version"))
    env.pop("UV_LINK_MODE")
    images = ImageEmulator(variant_project, tmp_path / "images", env)
    prefect = answer(variant_project, "use_prefect")

    database = f"sqlite+aiosqlite:///{tmp_path / 'image.db'}"

    def image_env(target: str, venv: Path) -> dict[str, str]:
        """The target's ENV (its environment first on PATH) and the database."""
        return {**images.environment(target, venv, "/usr/bin:/bin"), "DATABASE_URL": database}

    root, venv = images.build("migrations")
    migrations_env = image_env("migrations", venv)
    run(image_command(images.stages, "migrations"), root, migrations_env)
    heads = run(["alembic", "heads"], root, migrations_env).stdout.split()
    current = run(["alembic", "current"], root, migrations_env).stdout.split()
    assert sorted(current) == sorted(heads), "the migrations image left a head unapplied"

    root, venv = images.build("api")
    assert not (root / "app" / "workers").exists()
    for tool in ("pytest", "ruff", "ty", "prefect"):
        assert not (venv / "bin" / tool).exists(), f"the api image carries {tool}"
    api_env = image_env("api", venv)
    command = image_command(images.stages, "api")
    port = str(free_port())
    command[command.index("--host") + 1] = "127.0.0.1"
    command[command.index("--port") + 1] = port
    limited = {**api_env, "PORT": port, "RATE_LIMIT_DEFAULT": "1/minute"}
    with serving(root, limited, command) as base:
        assert get(f"{base}/health/ready")[0] == 200
        # uvicorn's own proxy headers are off (the settings' TRUSTED_PROXIES decide): from
        # loopback, another X-Forwarded-For does not make another client.
        statuses = [get(f"{base}/me", {"X-Forwarded-For": f"203.0.113.{n}"})[0] for n in (1, 2)]
        assert statuses == [401, 429]
    # The README's way to create a first user in the running stack.
    script = ["python", "-m", "app.scripts.create_user", "--email", "i@example.com"]
    created = json.loads(run(script, root, api_env).stdout.splitlines()[-1])
    assert created["email"] == "i@example.com"

    if prefect:
        root, venv = images.build("worker")
        run(["python", "-c", "import prefect, app.workers.main"], root, image_env("worker", venv))


@pytest.mark.xdist_group("t1-default")
def test_migration_runs_at_once_take_turns(default_project: Path) -> None:
    """Three migrations containers of overlapping deploys on one new PostgreSQL database: all
    succeed, and only one of them creates the schema. (They run the image's command, as
    `make migrate` does but without `uv run`, whose own lock would keep them apart.)"""
    with temporary_database(postgres_url(), "race") as url:
        env = project_env(answer(default_project, "python_version"), DATABASE_URL=url)
        env["PATH"] = os.pathsep.join([str(default_project / ".venv" / "bin"), env["PATH"]])
        runs = [
            subprocess.Popen(
                ["alembic", "upgrade", "heads"],
                cwd=default_project,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(3)
        ]
        outputs = [process.communicate(timeout=600)[0] for process in runs]
        assert [process.returncode for process in runs] == [0, 0, 0], "\n".join(outputs)
        assert sum("Running upgrade  -> 0001" in output for output in outputs) == 1, outputs
        run(["uv", "run", "alembic", "check"], default_project, env)


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


@pytest.mark.xdist_group("t1-default")
def test_clerk_sign_in_first_run(default_project: Path, tmp_path: Path) -> None:
    """The README's Clerk path: settings pointing at a JWKS (served over plain http on the
    loopback interface), make create-user CLERK_ID=..., then GET /api/v1/me with a token."""
    assert answer(default_project, "auth_clerk"), "the default project authenticates with Clerk"
    env = project_env(
        answer(default_project, "python_version"),
        PORT=str(free_port()),
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'clerk.db'}",
    )
    run(["make", "migrate"], default_project, env)
    created = run(
        ["make", "create-user", "EMAIL=me@example.com", "ROLE=admin", "CLERK_ID=user_2firstrun"],
        default_project,
        env,
    )
    user = json.loads(created.stdout.strip().splitlines()[-1])
    assert user["clerk_id"] == "user_2firstrun"

    server = ["uv", "run", "uvicorn", "app.api.main:app", "--port", env["PORT"]]
    with (
        clerk_session(default_project, env, tmp_path, "user_2firstrun") as (token, settings),
        serving(default_project, {**env, **settings}, server) as base,
    ):
        status, me = get(f"{base}/me", {"Authorization": f"Bearer {token}"})
        assert status == 200, me
        assert (me["id"], me["role"]) == (user["id"], "admin")
        forged = token[: token.rindex(".") + 1] + "A" * 342
        assert get(f"{base}/me", {"Authorization": f"Bearer {forged}"})[0] == 401


@contextlib.contextmanager
def fuzz_database(kind: str, directory: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / 'fuzz.db'}"
    else:
        with temporary_database(postgres_url(), "fuzz") as url:
            yield url


@pytest.mark.xdist_group("t1-default")
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_schemathesis_finds_no_server_error_and_no_schema_break(
    default_project: Path, tmp_path: Path, database: str
) -> None:
    """Property-based requests from the OpenAPI document, as a standard user and as an admin,
    on SQLite and on PostgreSQL (which refuses some values SQLite stores: NUL characters).

    Every check runs except `positive_data_acceptance`: some schema-valid inputs are refused
    by business rules the schema cannot state (an expiry in the past, a reserved e-mail domain).
    """
    with fuzz_database(database, tmp_path) as url:
        fuzz(default_project, tmp_path, url)


def fuzz(default_project: Path, tmp_path: Path, url: str) -> None:
    env = project_env(
        answer(default_project, "python_version"),
        PORT=str(free_port()),
        DATABASE_URL=url,
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
