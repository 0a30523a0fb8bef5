"""Write and check Alembic revisions against a scratch database, never the configured one.

    python -m app.scripts.revisions check           the revisions build what the models describe
    python -m app.scripts.revisions create MESSAGE  a revision for what the models changed
    python -m app.scripts.revisions sync MESSAGE    the same, but only when they changed

The scratch database is a SQLite file built from every revision (`upgrade heads`), so what is
written depends on the revisions alone, not on the state of a local database; migrations/env.py
writes portable types, so the revision serves SQLite and PostgreSQL alike.

A new revision starts from every head at once. A project has several heads when the template
brought revisions of its own (an optional feature's) beside the team's; the new revision merges
them, and the project is left with one.

`copier update` runs `sync` after changing the models (an answer turned on or off): the revision
it writes is part of the update, to read like any other. One that drops tables or columns says
so in its first lines.
"""

import argparse
import asyncio
import io
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import Connection

from app.infrastructure.database import create_engine

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


@dataclass(frozen=True)
class Written:
    """The revision a run wrote, and what it drops."""

    script: Script
    removed: list[str]


def drops(operations: Iterable[ops.MigrateOperation]) -> list[str]:
    """What an upgrade removes: tables and columns, whose data goes with them."""
    found: list[str] = []
    for operation in operations:
        if isinstance(operation, ops.DropTableOp):
            found.append(f"table {operation.table_name}")
        elif isinstance(operation, ops.DropColumnOp):
            found.append(f"column {operation.table_name}.{operation.column_name}")
        elif isinstance(operation, ops.OpContainer):
            found.extend(drops(operation.ops))
    return found


async def on_database[T](url: str, config: Config, work: Callable[[Config], T]) -> T:
    """Run Alembic commands (`work`) on the database at `url`, in one transaction."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:

            def run(sync_connection: Connection) -> T:
                config.attributes["connection"] = sync_connection
                try:
                    return work(config)
                finally:
                    del config.attributes["connection"]

            return await connection.run_sync(run)
    finally:
        await engine.dispose()


async def on_scratch_database[T](config: Config, work: Callable[[Config], T]) -> T:
    """Run Alembic commands (`work`) on a new, empty SQLite database, in one transaction."""
    with tempfile.TemporaryDirectory(prefix="revisions-") as scratch:
        url = f"sqlite+aiosqlite:///{Path(scratch) / 'scratch.db'}"
        return await on_database(url, config, work)


def check(config: Config) -> None:
    """Raise when the revisions do not build the schema the models describe."""
    command.upgrade(config, "heads")
    # Alembic says "No new upgrade operations detected." when they match: after a revision
    # was just written, that line reads as if nothing had been.
    output, config.stdout = config.stdout, io.StringIO()
    try:
        command.check(config)
    finally:
        config.stdout = output


def write(config: Config, message: str, *, only_if_changed: bool) -> Written | None:
    """Autogenerate a revision on top of every head; None when there was nothing to write."""
    removed: list[str] = []

    def describe(
        context: MigrationContext, revision: object, directives: list[ops.MigrationScript]
    ) -> None:
        script = directives[0]
        upgrade = script.upgrade_ops
        if upgrade is None or upgrade.is_empty():
            if only_if_changed:
                directives.clear()
            return
        removed.extend(drops(upgrade.ops))

    command.upgrade(config, "heads")
    written = command.revision(
        config,
        message=message,
        autogenerate=True,
        head="heads",
        process_revision_directives=describe,
    )
    scripts = written if isinstance(written, list) else [written]
    script = next((script for script in scripts if script is not None), None)
    if script is None:
        return None
    if removed:
        _say_what_it_drops(Path(script.path), message, removed)
    check(config)
    return Written(script, removed)


def _say_what_it_drops(path: Path, message: str, removed: list[str]) -> None:
    """Put what the revision drops under its title, where a reviewer reads first."""
    note = textwrap.fill(
        f"Drops {', '.join(removed)} when it runs, and the data stored there: back it up "
        "first if you need it.",
        width=96,
    )
    text = path.read_text()
    path.write_text(text.replace(f'"""{message}\n', f'"""{message}\n\n{note}\n', 1))


def report(written: Written | None, config: Config) -> None:
    if written is None:
        print("The migrations already match the models: no revision written.")
        return
    print(f"Wrote {Path(written.script.path).relative_to(ALEMBIC_INI.parent)}")
    if written.removed:
        print(
            f"Read it before `make migrate`: it drops {', '.join(written.removed)}, and the "
            "data stored there."
        )
    print(f"Head: {', '.join(ScriptDirectory.from_config(config).get_heads())}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="revisions", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["check", "create", "sync"])
    parser.add_argument("message", nargs="?", help="what the revision does (create, sync)")
    args = parser.parse_args(argv)
    if args.action != "check" and not args.message:
        parser.error(f"{args.action} needs a MESSAGE")
    config = Config(ALEMBIC_INI)
    try:
        if args.action == "check":
            asyncio.run(on_scratch_database(config, check))
            return 0
        only_if_changed = args.action == "sync"
        written = asyncio.run(
            on_scratch_database(
                config, lambda c: write(c, args.message, only_if_changed=only_if_changed)
            )
        )
    except Exception as error:
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1
    report(written, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
