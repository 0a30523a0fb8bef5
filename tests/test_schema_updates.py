"""T2: the database across updates. Every question that changes the schema (SCHEMA_OPTIONS,
derived from the template's revisions) is turned on and off by `copier update`, in a project
rendered from the previous release and in one rendered from the working tree; and a newer
template revision adds a column to users. Each project holds rows (users, their API keys while
keys are on, invoices of a domain added with `make new-domain`, whose revision follows the
template's) in a SQLite database and, with TEST_DATABASE_URL, a PostgreSQL one. Then:

- the update leaves nothing unmerged, and every revision file is as it was;
- `make install && make migrate` brings that same database to the new schema, `alembic check`
  against it finds no drift, and its rows are still there (API keys go with their option);
  a revision that drops a table comes undone (`make migrate-down`) and applies again on it;
- `make check` passes (in a project updated from a release; in one rendered from the working
  tree, every file its team did not touch is the fresh render of the new answers), and the
  service answers `GET /api/v1/me` with 200, on each database, to a credential the new variant
  accepts.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    BOOLEAN_OPTIONS,
    SCHEMA_OPTIONS,
    answer,
    boolean_defaults,
    project_env,
    rejection,
    run,
)
from tests.releases import (
    Revisions,
    assert_untouched_files_are_freshly_rendered,
    commit_all,
    commit_template_change,
    copier_update,
    first_release_is_older_than_the_previous,
    git,
    prepare,
    render_at,
    revision_files,
    unmerged,
)
from tests.service import clerk_session, free_port, get, serving, temporary_database
from updates.history import heads, parse

pytestmark = [pytest.mark.slow, pytest.mark.update]

# Prefect, Logfire and the workflows have no tables: off, each project checks in less time.
QUIET = {"use_prefect": False, "use_logfire": False, "use_github_actions": False}
CLERK_ID = "user_t2admin"

# Run in the project with DATABASE_URL: adds an invoice for argv[1] (when given), then prints
# the number of rows of each table that exists.
ROWS = """
import asyncio, json, sys, uuid
import sqlalchemy as sa
from app.infrastructure.database import create_engine
from app.infrastructure.config import get_settings
from app.models import Base

async def main(owner):
    engine = create_engine(get_settings().database_url)
    async with engine.begin() as connection:
        if owner:
            invoices = Base.metadata.tables["invoices"]
            values = {"owner_id": uuid.UUID(owner), "name": "first"}
            await connection.execute(sa.insert(invoices).values(values))
        tables = await connection.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
        counts = {}
        for name in sorted(tables & {"users", "invoices", "api_keys"}):
            query = sa.select(sa.func.count()).select_from(sa.table(name))
            counts[name] = (await connection.execute(query)).scalar_one()
    await engine.dispose()
    print(json.dumps(counts))

asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))
"""


@dataclass
class Database:
    """One of the project's databases, and the admin created in it before the update."""

    name: str
    url: str
    admin: dict[str, Any] = field(default_factory=dict)

    def env(self, env: dict[str, str]) -> dict[str, str]:
        return {**env, "DATABASE_URL": self.url}


@contextmanager
def databases(directory: Path) -> Iterator[list[Database]]:
    """A SQLite database, and a PostgreSQL one when TEST_DATABASE_URL names a server."""
    found = [Database("SQLite", f"sqlite+aiosqlite:///{directory / 'app.db'}")]
    with ExitStack() as stack:
        if server := os.environ.get("TEST_DATABASE_URL"):
            found.append(Database("PostgreSQL", stack.enter_context(temporary_database(server))))
        yield found


def rows(project: Path, env: dict[str, str], database: Database, owner: str = "") -> dict:
    arguments = ["uv", "run", "python", "-c", ROWS, *([owner] if owner else [])]
    return json.loads(run(arguments, project, database.env(env)).stdout.strip().splitlines()[-1])


def seed(project: Path, env: dict[str, str], database: Database, clerk: bool) -> dict[str, int]:
    """Migrate, create an admin (with a Clerk id when Clerk is on) and give them an invoice;
    the number of rows of each table then."""
    run(["make", "migrate"], project, database.env(env))
    command = ["make", "create-user", "EMAIL=admin@example.com", "ROLE=admin"]
    created = run(
        [*command, *([f"CLERK_ID={CLERK_ID}"] if clerk else [])], project, database.env(env)
    )
    database.admin = json.loads(created.stdout.strip().splitlines()[-1])
    return rows(project, env, database, owner=database.admin["id"])


def project_with_a_domain(
    revisions: Revisions, ref: str, answers: dict[str, Any], directory: Path
) -> tuple[Path, dict[str, str]]:
    """A project rendered at `ref` and installed, with an invoice domain added by its team."""
    project = render_at(revisions, ref, answers, directory / "service")
    env = project_env(answer(project, "python_version"))
    env.pop("TEST_DATABASE_URL", None)
    run(["make", "install"], project, env)
    run(["make", "new-domain", "NAME=invoice"], project, env)
    return project, env


def seeded(
    project: Path, env: dict[str, str], found: list[Database], *, clerk: bool
) -> dict[str, dict[str, int]]:
    """Each database migrated and given rows, then committed; its row counts by database."""
    counted = {database.name: seed(project, env, database, clerk=clerk) for database in found}
    commit_all(project, "feat: invoices")
    return counted


def answers_turning(option: str, on: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """Answers before and after turning `option` on (or off); both valid."""
    before = {**boolean_defaults(), **QUIET, option: not on}
    for other in BOOLEAN_OPTIONS:  # the other authentication method, when one must stay on
        if rejection(before) is None and rejection({**before, option: on}) is None:
            break
        before[other] = True
    after = {**before, option: on}
    assert rejection(before) is None, before
    assert rejection(after) is None, after
    return before, after


def me(project: Path, env: dict[str, str], database: Database, tmp_path: Path) -> dict:
    """GET /api/v1/me as the admin, with a credential the project now accepts."""
    port = str(free_port())
    served = {**database.env(env), "PORT": port}
    server = ["uv", "run", "uvicorn", "app.api.main:app", "--port", port]
    with ExitStack() as stack:
        if answer(project, "auth_api_keys"):
            key = database.admin.get("api_key")
            if key is None:  # keys were off before: a new user brings one
                created = run(["make", "create-user", "EMAIL=keyed@example.com"], project, served)
                key = json.loads(created.stdout.strip().splitlines()[-1])["api_key"]
            headers = {"X-API-Key": key}
        else:
            token, settings = stack.enter_context(clerk_session(project, env, tmp_path, CLERK_ID))
            served.update(settings)
            headers = {"Authorization": f"Bearer {token}"}
        base = stack.enter_context(serving(project, served, server))
        assert get(f"{base}/health/ready")[0] == 200
        status, body = get(f"{base}/me", headers)
    assert status == 200, body
    return body


@pytest.fixture(scope="module")
def revisions(tmp_path_factory: pytest.TempPathFactory) -> Revisions:
    return prepare(tmp_path_factory.mktemp("template"))


def scenarios() -> Iterator[Any]:
    for option in SCHEMA_OPTIONS:
        for on in (True, False):
            for origin in ("release", "working-tree"):
                direction = "on" if on else "off"
                yield pytest.param(option, on, origin, id=f"{option}-{direction}-from-{origin}")
    # The oldest projects too, once the previous release is not the first: one change each way.
    if first_release_is_older_than_the_previous():
        for option, on in (("auth_clerk", True), ("auth_api_keys", False)):
            direction = "on" if on else "off"
            yield pytest.param(option, on, "first-release", id=f"{option}-{direction}-from-first")


@pytest.mark.parametrize(("option", "on", "origin"), list(scenarios()))
def test_an_answer_change_migrates_the_database_and_keeps_its_rows(
    option: str, on: bool, origin: str, revisions: Revisions, tmp_path: Path
) -> None:
    before, after = answers_turning(option, on)
    ref = {"release": revisions.old, "first-release": revisions.first}.get(origin, revisions.new)
    assert ref is not None
    project, env = project_with_a_domain(revisions, ref, before, tmp_path)
    with databases(tmp_path) as found:
        counted = seeded(project, env, found, clerk=before["auth_clerk"])
        history = revision_files(project)
        touched = set(git(project, "diff", "--name-only", "HEAD~1", "HEAD").splitlines())

        printed = copier_update(project, env, revisions.new, {option: on})

        assert unmerged(project) == []
        assert {name: revision_files(project).get(name) for name in history} == history
        assert ("drops" in printed) == (not on), printed[-3000:]
        run(["make", "install"], project, env)
        for database in found:
            run(["make", "migrate"], project, database.env(env))
            run(["uv", "run", "alembic", "check"], project, database.env(env))
            expected = dict(counted[database.name])
            if not after["auth_api_keys"]:
                expected.pop("api_keys", None)
            elif "api_keys" not in expected:
                expected["api_keys"] = 0
            assert rows(project, env, database) == expected, database.name
            if not on:  # the revision that drops comes undone and applies again, here too
                run(["make", "migrate-down"], project, database.env(env))
                run(["make", "migrate"], project, database.env(env))
        if origin == "working-tree":
            # The template unchanged, an answer changed: what the team did not touch is the
            # fresh render of the new answers, which T0 and T1 check. (`make check` runs on the
            # projects updated from the releases, whose files mix two revisions.)
            fresh = tmp_path / "answers"
            changed = {option: on}
            assert_untouched_files_are_freshly_rendered(project, touched, revisions, changed, fresh)
        else:
            result = run(["make", "check"], project, env)
            assert "tests/api/test_invoices.py" in result.stdout
        for database in found:
            body = me(project, env, database, tmp_path)
            if database.admin.get("api_key") or not after["auth_api_keys"]:
                assert body["id"] == database.admin["id"], database.name


DISPLAY_NAME = "    display_name: Mapped[str | None] = mapped_column(String(100), default=None)\n"
RELEASE_REVISION = '''"""Users have a display name.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("display_name", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("display_name")
'''


def release_adding_a_column(revisions: Revisions) -> str:
    """A newer template revision: users.display_name, and the revision that adds it."""
    models = "template/app/domains/users/models.py.jinja"
    text = git(revisions.source, "show", f"{revisions.new}:{models}")
    anchor = re.search(r"^    email: Mapped\[str\].*\n", text, re.M)
    assert anchor, "the users model has no email column to add a field after"
    change = {
        models: text[: anchor.end()] + DISPLAY_NAME + text[anchor.end() :],
        "template/migrations/versions/0002_users_display_name.py": RELEASE_REVISION,
    }
    return commit_template_change(revisions.source, revisions.new, change, "feat: display names")


def test_a_release_that_changes_a_model_reaches_a_project_with_revisions_of_its_own(
    revisions: Revisions, tmp_path: Path
) -> None:
    project, env = project_with_a_domain(revisions, revisions.new, QUIET, tmp_path)
    with databases(tmp_path) as found:
        counted = seeded(project, env, found, clerk=bool(answer(project, "auth_clerk")))
        history = revision_files(project)
        team_heads = heads(filter(None, (parse(n, t.decode()) for n, t in history.items())))

        copier_update(project, env, release_adding_a_column(revisions), {})

        assert unmerged(project) == []
        assert {name: revision_files(project).get(name) for name in history} == history
        arrived = project / "migrations/versions/0002_users_display_name.py"
        grafted = parse(arrived.name, arrived.read_text())
        assert grafted is not None
        assert list(grafted.parents) == team_heads
        run(["make", "install"], project, env)
        for database in found:
            run(["make", "migrate"], project, database.env(env))
            run(["uv", "run", "alembic", "check"], project, database.env(env))
            assert rows(project, env, database) == counted[database.name], database.name

    # The team's tools keep working on top: one more field, one more domain, one head.
    invoice = project / "app/domains/invoice/models.py"
    invoice.write_text(
        invoice.read_text().replace(
            "    description: Mapped[str | None] = mapped_column(Text, default=None)\n",
            "    description: Mapped[str | None] = mapped_column(Text, default=None)\n"
            "    reference: Mapped[str | None] = mapped_column(String(40), default=None)\n",
        )
    )
    run(["make", "migrate-create", "MESSAGE=add invoice references"], project, env)
    run(["make", "new-domain", "NAME=order"], project, env)
    latest = [parse(n, t.decode()) for n, t in revision_files(project).items()]
    assert len(heads(filter(None, latest))) == 1
    result = run(["make", "check"], project, env)
    assert "tests/api/test_orders.py" in result.stdout
