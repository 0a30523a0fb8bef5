"""The schema this code expects (the revisions in migrations/), against a database's.

The readiness probe refuses traffic while the database lacks a revision the code was written
for: a deploy that skipped its migrations, or started before they finished, answers 503
instead of failing on a missing column. A database ahead of the code (revisions it does not
know, from a newer deploy that migrated first) is accepted, so pods of the previous release
keep serving during a rolling update.

The revisions are read once, on first use, with Alembic's own script directory.
"""

import asyncio
import logging
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from sqlalchemy import Connection

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"

logger = logging.getLogger(__name__)


def applied_revisions(connection: Connection) -> tuple[str, ...]:
    """The heads recorded in the database's alembic_version table (none before any migration)."""
    return tuple(MigrationContext.configure(connection).get_current_heads())


class ExpectedSchema:
    """The revisions of this code, and which of them a database has not applied."""

    def __init__(self, alembic_ini: Path = ALEMBIC_INI) -> None:
        self._alembic_ini = alembic_ini
        self._script: ScriptDirectory | None = None
        self._reported: tuple[str, ...] = ()

    async def missing(self, applied: tuple[str, ...]) -> list[str]:
        """The revisions a database whose heads are `applied` still needs, oldest first."""
        if self._script is None:
            self._script = await asyncio.to_thread(self._load)
        script = self._script
        try:
            done = {
                revision.revision
                for revision in script.revision_map.iterate_revisions(
                    applied, "base", inclusive=True
                )
            }
        except ResolutionError:  # revisions this code does not know: a newer release migrated
            return []
        missing = [
            revision.revision
            for revision in reversed(list(script.walk_revisions()))
            if revision.revision not in done
        ]
        self._report(tuple(missing))
        return missing

    def _load(self) -> ScriptDirectory:
        return ScriptDirectory.from_config(Config(self._alembic_ini))

    def _report(self, missing: tuple[str, ...]) -> None:
        """Log a change of state once, not at every probe."""
        if missing != self._reported and missing:
            logger.warning(
                "the database lacks %d revision(s) this code expects: %s; run the migrations "
                "(make migrate, or the migrations image)",
                len(missing),
                ", ".join(missing),
            )
        self._reported = missing
