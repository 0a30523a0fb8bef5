"""The schema this code expects (the revisions in migrations/), against a database's.

The readiness probe refuses traffic while the database lacks a revision the code was written
for: a deploy that skipped its migrations, or started before they finished, answers 503
instead of failing on a missing column. A database ahead of the code (revisions it does not
know, from a newer deploy that migrated first) is accepted, so pods of the previous release
keep serving during a rolling update.

The revisions are read once, on first use, from the files in migrations/versions: each names
itself (`revision`) and the revisions it follows (`down_revision`, `depends_on`) as literal
values, as Alembic writes them. Reading them so keeps Alembic, about 9 MB of memory, out of
the API process; a test checks the result against Alembic's own reading of the directory.
"""

import ast
import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Connection, column, inspect, select, table

VERSIONS_DIRECTORY = Path(__file__).resolve().parents[2] / "migrations" / "versions"
VERSION_TABLE = "alembic_version"
_NAMES = frozenset({"revision", "down_revision", "depends_on"})

logger = logging.getLogger(__name__)

# Each revision and the revisions it follows.
RevisionGraph = dict[str, tuple[str, ...]]


def applied_revisions(connection: Connection) -> tuple[str, ...]:
    """The heads recorded in the database's alembic_version table (none before any migration)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return ()
    versions = table(VERSION_TABLE, column("version_num"))
    return tuple(connection.execute(select(versions.c.version_num)).scalars())


def read_revisions(directory: Path = VERSIONS_DIRECTORY) -> RevisionGraph:
    """Every revision in `directory` and the revisions it follows, oldest first."""
    graph: RevisionGraph = {}
    for path in sorted(directory.glob("*.py")):
        values = _module_literals(path)
        revision = values.get("revision")
        if not isinstance(revision, str):
            raise ValueError(f'{path}: no literal `revision = "..."` at the top level')
        graph[revision] = (*_names(values.get("down_revision")), *_names(values.get("depends_on")))
    return {revision: graph[revision] for revision in _oldest_first(graph)}


def _module_literals(path: Path) -> dict[str, object]:
    values: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in _NAMES:
            try:
                values[target.id] = ast.literal_eval(value)
            except ValueError as error:
                raise ValueError(f"{path}: `{target.id}` is not a literal value") from error
    return values


def _names(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(name, str) for name in value):
        return tuple(value)
    raise ValueError(f"expected a revision or a sequence of revisions, got {value!r}")


def missing_revisions(graph: RevisionGraph, applied: Iterable[str]) -> list[str] | None:
    """The revisions of `graph` (oldest first, as `read_revisions` gives it) a database at
    heads `applied` lacks; None when the database has a revision the graph does not know (it
    is ahead)."""
    done: set[str] = set()
    stack = list(applied)
    while stack:
        revision = stack.pop()
        if revision in done:
            continue
        if revision not in graph:
            return None
        done.add(revision)
        stack.extend(graph[revision])
    return [revision for revision in graph if revision not in done]


def _oldest_first(graph: RevisionGraph) -> list[str]:
    """The revisions, each after every revision it follows (ties in name order)."""
    ordered: list[str] = []
    placed: set[str] = set()
    waiting = sorted(graph)
    while waiting:
        ready = [r for r in waiting if all(p in placed or p not in graph for p in graph[r])]
        if not ready:
            raise ValueError(f"the revisions {', '.join(waiting)} follow each other in a cycle")
        ordered.extend(ready)
        placed.update(ready)
        waiting = [r for r in waiting if r not in placed]
    return ordered


class ExpectedSchema:
    """The revisions of this code, and which of them a database has not applied."""

    def __init__(self, directory: Path = VERSIONS_DIRECTORY) -> None:
        self._directory = directory
        self._graph: RevisionGraph | None = None
        self._reported: tuple[str, ...] = ()

    async def missing(self, applied: tuple[str, ...]) -> list[str]:
        """The revisions a database whose heads are `applied` still needs, oldest first."""
        if self._graph is None:
            self._graph = await asyncio.to_thread(read_revisions, self._directory)
        missing = missing_revisions(self._graph, applied)
        if missing is None:  # revisions this code does not know: a newer release migrated
            return []
        self._report(tuple(missing))
        return missing

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
