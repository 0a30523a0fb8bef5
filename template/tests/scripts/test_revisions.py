"""app/scripts/revisions.py: revisions written and checked on a scratch database.

The tests work on a copy of migrations/, so the project's own revisions never change.
"""

import io
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.operations import ops
from alembic.script import ScriptDirectory

from app.scripts import revisions
from app.scripts.migrate_down import downgrade_target
from app.scripts.revisions import drops, on_database, on_scratch_database, write
from tests.support.database import (
    add_revision,
    heads,
    migrations_copy,
    postgres_server_url,
    temporary_postgres_database,
)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """The project's Alembic configuration, on a copy of its migrations."""
    return migrations_copy(tmp_path)


def first_lines(path: str, count: int) -> list[str]:
    return Path(path).read_text().splitlines()[:count]


def downgrade_of(path: str) -> str:
    """A revision's downgrade(), each statement on one line."""
    text = Path(path).read_text().split("def downgrade", 1)[1]
    return " ".join(text.split()).replace("( ", "(").replace(", )", ")")


def versions(config: Config) -> set[str]:
    directory = Path(config.get_main_option("script_location") or "", "versions")
    return {path.name for path in directory.glob("*.py")}


async def test_sync_writes_nothing_when_the_models_match(config: Config) -> None:
    before = versions(config)
    written = await on_scratch_database(config, lambda c: write(c, "noop", only_if_changed=True))
    assert written is None
    assert versions(config) == before


@pytest.fixture
def leftover(config: Config) -> Config:
    """The copy with one more revision: a table that no model describes."""
    add_revision(
        config,
        "leftover",
        "0001",
        upgrade="""
            op.create_table(
                "leftover",
                sa.Column("id", sa.Integer(), primary_key=True),
                sa.Column("owner_id", sa.Uuid(), sa.ForeignKey("users.id"), nullable=False),
                sa.Column("seen_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
            )
        """,
        downgrade='op.drop_table("leftover")',
    )
    return config


async def test_a_revision_that_drops_says_so_and_merges_every_head(
    leftover: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = leftover
    config.stdout = said = io.StringIO()
    # Alembic formats the new revision with ruff through its own interpreter, not through PATH
    # (an IDE or `.venv/bin/pytest` runs without the environment's scripts on it).
    monkeypatch.setenv("PATH", str(tmp_path))
    before = heads(config)
    assert len(before) >= 2  # the leftover branch beside the project's own head(s)

    written = await on_scratch_database(
        config, lambda c: write(c, "turn off the leftover", only_if_changed=True)
    )

    assert written is not None
    # The check after writing it says nothing that reads as "nothing was written".
    assert "No new upgrade operations" not in said.getvalue()
    assert written.removed == ["table leftover"]
    title, blank, note = first_lines(written.script.path, 3)
    assert (title, blank) == ('"""turn off the leftover', "")
    assert note.startswith("Drops table leftover when it runs, and the data stored there")
    assert set(written.script.down_revision or ()) == set(before)
    assert heads(config) == (written.script.revision,)
    # The new head builds the schema of the models: nothing left to write.
    again = await on_scratch_database(config, lambda c: write(c, "again", only_if_changed=True))
    assert again is None
    # Its downgrade recreates the table with types PostgreSQL has too, not SQLite's reflection.
    downgrade = downgrade_of(written.script.path)
    assert 'sa.Column("owner_id", sa.Uuid(), nullable=False)' in downgrade
    assert 'sa.Column("seen_at", sa.DateTime(timezone=True), server_default=sa.func.now()' in (
        downgrade
    )
    assert "DATETIME" not in downgrade
    assert "CHAR" not in downgrade


@pytest.mark.skipif(postgres_server_url() is None, reason="PostgreSQL only: set TEST_DATABASE_URL")
async def test_a_revision_that_drops_goes_down_and_up_on_postgresql(leftover: Config) -> None:
    config = leftover
    written = await on_scratch_database(config, lambda c: write(c, "drop it", only_if_changed=True))
    assert written is not None
    newest = written.script.revision
    server_url = postgres_server_url()
    assert server_url is not None
    async with temporary_postgres_database(server_url) as url:

        def round_trip(c: Config) -> None:
            command.upgrade(c, "heads")
            command.downgrade(c, downgrade_target(ScriptDirectory.from_config(c), (newest,)))
            command.upgrade(c, "heads")

        await on_database(url, config, round_trip)


def test_drops_finds_tables_and_columns_inside_table_changes() -> None:
    upgrade = [
        ops.DropTableOp("archive"),
        ops.ModifyTableOps("users", [ops.DropColumnOp("users", "nickname")]),
        ops.AddColumnOp("users", sa.Column("motto", sa.String(80))),
    ]
    assert drops(upgrade) == ["table archive", "column users.nickname"]


def test_the_command_line_refuses_a_missing_message(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        revisions.main(["create"])
    assert refused.value.code == 2
    assert "create needs a MESSAGE" in capsys.readouterr().err
