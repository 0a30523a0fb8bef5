"""Sessions of the template repository.

    nox                 lint and the whole template test suite (what CI runs)
    nox -s lint         ruff on the template tooling (extensions, tests, this file)
    nox -s tests        every tier; pass pytest arguments after --, e.g. nox -s tests -- -k t0
    nox -s t0           every option combination renders clean, with valid operations files (fast)
    nox -s t1           rendered projects pass their own `make check` (slow)
    nox -s demo         render the default service into build/demo and serve it
    nox -s bench        benchmark the default service against a bare FastAPI app
    nox -s docs         build the documentation site strictly into site/
    nox -s docs -- serve  serve it on http://127.0.0.1:8000 with live reload

Set TEST_DATABASE_URL (a PostgreSQL server URL) to run the PostgreSQL tier of T1.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "tests"]
nox.options.reuse_venv = "yes"

ROOT = Path(__file__).resolve().parent
DEMO_DIR = ROOT / "build" / "demo"


def install_groups(session: nox.Session, *groups: str) -> None:
    """Install dependency groups of pyproject.toml into the session's environment."""
    args = [arg for group in groups for arg in ("--group", group)]
    session.run_install(
        "uv",
        "sync",
        "--no-install-project",
        *args,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        silent=True,
    )


@nox.session
def lint(session: nox.Session) -> None:
    install_groups(session, "lint")
    session.run("ruff", "check", "extensions", "tests", "tools", "bench", "noxfile.py")
    session.run("ruff", "format", "--check", "extensions", "tests", "tools", "bench", "noxfile.py")


@nox.session
def tests(session: nox.Session) -> None:
    install_groups(session, "test")
    session.run("pytest", *session.posargs)


@nox.session
def t0(session: nox.Session) -> None:
    install_groups(session, "test")
    session.run(
        "pytest",
        "tests/test_render.py",
        "tests/test_questions.py",
        "tests/test_static.py",
        *session.posargs,
    )


@nox.session
def t1(session: nox.Session) -> None:
    install_groups(session, "test")
    session.run("pytest", "-m", "slow", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """Render the default service, install it, migrate SQLite, create an admin, serve it."""
    install_groups(session, "test")
    session.run("python", "-m", "tools.demo", str(DEMO_DIR), *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (needs BENCH_DATABASE_URL or TEST_DATABASE_URL, and wrk)."""
    install_groups(session, "test")
    session.run("python", "-m", "bench.run", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation strictly into site/, or serve it: nox -s docs -- serve."""
    install_groups(session, "docs")
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", "--strict", *session.posargs[1:])
    else:
        session.run("mkdocs", "build", "--strict", *session.posargs)
