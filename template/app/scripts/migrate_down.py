"""`make migrate-down`: undo the newest revision applied to the configured database.

`alembic downgrade -1` cannot step back from a merge revision, one with several parents
("Ambiguous walk"), and on a project with several heads each revision `make migrate-create`
writes is one. This reads the database's current revision and downgrades to a parent of it:
Alembic then removes what descends from that parent, the newest revision alone. When the
database is at several revisions (branches not merged yet), it names them and stops: which one
is the last is for the team to say (`uv run alembic downgrade <revision>@-1` undoes one branch's
newest revision; `<revision>-1` would undo what descends from its parent, other branches too).
"""

import asyncio
import sys

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.infrastructure.config import get_settings
from app.scripts.revisions import ALEMBIC_INI, on_database


class NothingToUndo(Exception):
    """The database is at no revision, or at several: no single newest one to undo."""


def downgrade_target(script: ScriptDirectory, current: tuple[str, ...]) -> str:
    """The revision to downgrade to so that only `current`'s one revision is undone."""
    if not current:
        raise NothingToUndo("the database has no revision applied: nothing to undo")
    if len(current) > 1:
        raise NothingToUndo(
            f"the database is at {len(current)} revisions ({', '.join(sorted(current))}), not "
            "one newest: undo one with `uv run alembic downgrade <revision>@-1`"
        )
    revision = script.get_revision(current[0])
    if revision is None:
        raise NothingToUndo(f"the database is at {current[0]}, which migrations/ does not have")
    down = revision.down_revision
    parents = (down,) if isinstance(down, str) else tuple(down or ())
    # A parent that no other parent descends from: downgrading to it keeps the other parents.
    for parent in parents:
        if not any(
            parent in {ancestor.revision for ancestor in script.iterate_revisions(other, "base")}
            for other in parents
            if other != parent
        ):
            return parent
    return "base"


def current_revisions(config: Config) -> tuple[str, ...]:
    """The revisions the configured database is at."""

    def read(connected: Config) -> tuple[str, ...]:
        context = MigrationContext.configure(connected.attributes["connection"])
        return tuple(context.get_current_heads())

    return asyncio.run(on_database(get_settings().database_url, config, read))


def undo_newest(config: Config) -> tuple[str, tuple[str, ...]]:
    """Downgrade the configured database by its newest revision: that revision, and the
    revisions the database is at now."""
    current = current_revisions(config)
    command.downgrade(config, downgrade_target(ScriptDirectory.from_config(config), current))
    return current[0], current_revisions(config)


def main(argv: list[str] | None = None, config: Config | None = None) -> int:
    if argv:
        print(f"migrate-down: takes no arguments, got {' '.join(argv)}", file=sys.stderr)
        return 2
    try:
        undone, now = undo_newest(config or Config(ALEMBIC_INI))
    except NothingToUndo as error:
        print(f"migrate-down: {error}", file=sys.stderr)
        return 1
    print(f"Undid {undone}; the database is now at {', '.join(sorted(now)) or 'no revision'}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
