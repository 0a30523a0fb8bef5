"""`make migrate-down`: undoes the newest revision, a merge revision too, and says why when there
is no single newest one."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from app.infrastructure.config import get_settings
from app.scripts.migrate_down import main
from tests.support.database import add_revision, heads, migrations_copy


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Config]:
    """A copy of the project's migrations with two branches on top, their merge and one more
    revision, applied to a new SQLite database that the script reaches through DATABASE_URL."""
    config = migrations_copy(tmp_path)
    tops = heads(config)
    top = tops[0] if len(tops) == 1 else tops
    added = {"left": top, "right": top, "merge": ("left", "right"), "after": "merge"}
    for name, parents in added.items():
        add_revision(config, name, parents)
    database = tmp_path / "down.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    get_settings.cache_clear()
    yield config
    get_settings.cache_clear()


def current(config: Config) -> set[str]:
    url = get_settings().database_url.replace("+aiosqlite", "")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()


def test_each_run_undoes_the_newest_revision_a_merge_too(
    config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    command.upgrade(config, "heads")
    assert current(config) == {"after"}

    assert main([], config) == 0
    assert current(config) == {"merge"}
    assert main([], config) == 0  # `alembic downgrade -1` stops here: "Ambiguous walk"
    assert current(config) == {"left", "right"}
    assert capsys.readouterr().out.splitlines() == [
        "Undid after; the database is now at merge.",
        "Undid merge; the database is now at left, right.",
    ]

    # Two branches: which is the last is the team's call.
    assert main([], config) == 1
    error = capsys.readouterr().err
    assert error.startswith("migrate-down: the database is at 2 revisions (left, right)")
    assert "alembic downgrade <revision>@-1" in error
    assert current(config) == {"left", "right"}


def test_an_empty_database_has_nothing_to_undo(
    config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([], config) == 1
    assert capsys.readouterr().err == (
        "migrate-down: the database has no revision applied: nothing to undo\n"
    )


def test_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-2"]) == 2
    assert "takes no arguments" in capsys.readouterr().err
