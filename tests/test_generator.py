"""T1: in a freshly rendered project, `make new-domain NAME=invoice` adds a domain that passes
the project's own `make check` at once, on SQLite and on PostgreSQL; its routes are in the
OpenAPI document, and a second run is refused without changing anything.

One project, of the default answers (both credentials, Prefect): the generator's templates hold
nothing that depends on an answer, and the T2 answer changes (tests/test_schema_updates.py)
pass `make check` with a generated domain in the variants with one credential each.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_copie.plugin import Copie

from tests.helpers import answer, project_env, rendered_project, run
from tests.test_project import postgres_url

# On the worker of the other `default` group tests (pytest-xdist): one render, not one per worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("t1-default")]


@dataclass(frozen=True)
class Generated:
    project: Path
    output: str
    seconds: float


@pytest.fixture(scope="module")
def generated(copie_session: Copie) -> Generated:
    project = rendered_project(copie_session.copy(extra_answers={}))
    env = project_env(answer(project, "python_version"))
    run(["make", "install"], project, env)
    started = time.monotonic()
    result = run(["make", "new-domain", "NAME=invoice"], project, env)
    return Generated(project, result.stdout, time.monotonic() - started)


def fingerprint(project: Path) -> dict[str, str]:
    """Every project file and its digest (the environment and caches left out)."""
    ignored = {".venv", "__pycache__", ".pytest_cache", ".ruff_cache"}
    return {
        str(path.relative_to(project)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(project.rglob("*"))
        if path.is_file() and not ignored & set(path.relative_to(project).parts)
    }


def test_it_creates_the_domain_and_refuses_a_second_run(generated: Generated) -> None:
    project = generated.project
    expected = [
        *(f"app/domains/invoice/{module}.py" for module in ("models", "schemas", "repository")),
        *(f"app/domains/invoice/{module}.py" for module in ("authorization", "service")),
        *(f"app/domains/invoice/{module}.py" for module in ("exceptions", "factory")),
        "app/api/routes/invoices.py",
        "tests/api/test_invoices.py",
        "tests/domains/invoice/test_service.py",
    ]
    for relative in expected:
        assert (project / relative).is_file(), relative
        assert f"created  {relative}" in generated.output
    assert len(list((project / "migrations/versions").glob("*_add_invoices.py"))) == 1
    assert (
        "from app.domains.invoice.models import Invoice" in (project / "app/models.py").read_text()
    )
    assert "invoices.router" in (project / "app/api/router.py").read_text()

    before = fingerprint(project)
    env = project_env(answer(project, "python_version"))
    again = subprocess.run(
        ["make", "new-domain", "NAME=invoice"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode != 0
    assert "new-domain: app/domains/invoice already exists" in again.stderr
    assert fingerprint(project) == before


def test_make_check_on_sqlite(generated: Generated) -> None:
    env = project_env(answer(generated.project, "python_version"))
    env.pop("TEST_DATABASE_URL", None)
    started = time.monotonic()
    result = run(["make", "check"], generated.project, env)
    checked = time.monotonic() - started
    assert "database: SQLite" in result.stdout
    assert "tests/api/test_invoices.py" in result.stdout
    assert "tests/domains/invoice/test_service.py" in result.stdout
    print(
        f"from `make new-domain` to green: {generated.seconds:.1f} s to generate "
        f"+ {checked:.1f} s of `make check` = {generated.seconds + checked:.1f} s"
    )


def test_make_check_on_postgresql(generated: Generated) -> None:
    url = postgres_url()
    env = project_env(answer(generated.project, "python_version"), TEST_DATABASE_URL=url)
    result = run(["make", "check"], generated.project, env)
    assert "database: PostgreSQL" in result.stdout
    assert "tests/api/test_invoices.py" in result.stdout


def test_the_routes_are_in_the_openapi_document(generated: Generated) -> None:
    snippet = (
        "import json; from app.api.main import app; "
        "print(json.dumps({path: sorted(ops) for path, ops in app.openapi()['paths'].items()}))"
    )
    env = project_env(answer(generated.project, "python_version"))
    result = run(["uv", "run", "python", "-c", snippet], generated.project, env)
    paths = json.loads(result.stdout.strip().splitlines()[-1])
    assert paths["/api/v1/invoices"] == ["get", "post"]
    assert paths["/api/v1/invoices/{invoice_id}"] == ["delete", "get", "patch"]
