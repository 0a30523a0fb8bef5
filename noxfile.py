"""Sessions of the template repository.

    nox                 lint and every tier of the template's tests (what .ci/run runs)
    nox -s lint         ruff on the template tooling (extensions, tests, this file)
    nox -s tests        every tier; pass pytest arguments after --, e.g. nox -s tests -- -x
    nox -s t0           every option combination renders clean, with valid operations files (fast)
    nox -s t1           representative variants pass their own `make check` (slow);
                        nox -s t1 -- --variant api-keys-only runs one (as each CI job does)
    nox -s t2           `copier update` from an earlier revision keeps the user's work
    nox -s demo         render the default service into build/demo and serve it
    nox -s bench        benchmark the default service against a bare FastAPI app
    nox -s docs         build the documentation site strictly into site/
    nox -s docs -- serve  serve it on http://127.0.0.1:8000 with live reload

Set TEST_DATABASE_URL (a PostgreSQL server URL) to run the PostgreSQL half of T1.

Every session, and every rendered project the tests install, uses the same uv cache (uv's
default, or UV_CACHE_DIR when set), and sessions keep their environments between runs, so
only the first run downloads anything.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "tests"]
nox.options.reuse_venv = "yes"

ROOT = Path(__file__).resolve().parent
DEMO_DIR = ROOT / "build" / "demo"

# Tests of one variant (T0) or one representative variant (T1) share a render on one worker.
# Work is handed out in collection order (tests/conftest.py puts the longest tiers first),
# not by pytest-xdist's default of the largest groups first, which left the minute-long
# updates, one test each, for the end.
PARALLEL = ("-n", "auto", "--dist", "loadgroup", "--no-loadscope-reorder")
# The template's own Python (template/ is the rendered tree: its projects lint it themselves).
LINTED = ("extensions", "tests", "tools", "bench", "updates", "noxfile.py")


def install_groups(session: nox.Session, *groups: str) -> None:
    """Install dependency groups of pyproject.toml into the session's environment."""
    args = [arg for group in groups for arg in ("--group", group)]
    session.run_install(
        "uv",
        "sync",
        "--locked",
        "--no-install-project",
        *args,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        silent=True,
    )


@nox.session
def lint(session: nox.Session) -> None:
    install_groups(session, "lint")
    session.run("ruff", "check", *LINTED)
    session.run("ruff", "format", "--check", *LINTED)


@nox.session
def tests(session: nox.Session) -> None:
    """Every tier: T0, T1 and T2."""
    install_groups(session, "test")
    session.run("pytest", *PARALLEL, *session.posargs)


@nox.session
def t0(session: nox.Session) -> None:
    """Every option combination renders clean; invalid ones are refused; versioning and CI."""
    install_groups(session, "test")
    session.run("pytest", "-m", "not slow", *PARALLEL, *session.posargs)


@nox.session
def t1(session: nox.Session) -> None:
    """Representative variants pass their own `make check`, on SQLite and PostgreSQL."""
    install_groups(session, "test")
    session.run("pytest", "-m", "slow and not update", *PARALLEL, *session.posargs)


@nox.session
def t2(session: nox.Session) -> None:
    """`copier update` from an earlier template revision keeps the user's work."""
    install_groups(session, "test")
    session.run("pytest", "-m", "update", *PARALLEL, *session.posargs)


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
