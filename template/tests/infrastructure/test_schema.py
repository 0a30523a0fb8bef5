"""The readiness probe's reading of migrations/versions, checked against Alembic's own."""

from collections.abc import Sequence
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from app.infrastructure.schema import missing_revisions, read_revisions
from tests.support.database import alembic_config


def as_tuple(value: str | Sequence[str] | None) -> tuple[str, ...]:
    return () if value is None else (value,) if isinstance(value, str) else tuple(value)


@pytest.fixture(scope="module")
def alembic_script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def test_the_revisions_and_what_they_follow_are_alembics(alembic_script: ScriptDirectory) -> None:
    expected = {
        revision.revision: {*as_tuple(revision.down_revision), *as_tuple(revision.dependencies)}
        for revision in alembic_script.walk_revisions()
    }
    assert {name: set(follows) for name, follows in read_revisions().items()} == expected


def test_what_a_database_lacks_at_each_revision_is_what_alembic_would_apply(
    alembic_script: ScriptDirectory,
) -> None:
    graph = read_revisions()
    for revision in [*graph, *alembic_script.get_heads()]:
        applied = alembic_script.revision_map.iterate_revisions(revision, "base", inclusive=True)
        done = {script.revision for script in applied}
        missing = missing_revisions(graph, [revision])
        assert missing is not None
        assert set(missing) == set(graph) - done, revision
        for position, name in enumerate(missing):  # each after the revisions it follows
            assert not set(graph[name]) & set(missing[position:]), missing
    assert missing_revisions(graph, alembic_script.get_heads()) == []
    everything = missing_revisions(graph, [])
    assert everything is not None
    assert set(everything) == set(graph)


def test_a_database_ahead_of_the_code_lacks_nothing_it_can_name() -> None:
    assert missing_revisions(read_revisions(), ["f00dfeed0001"]) is None


def test_a_revision_that_is_not_a_literal_is_named(tmp_path: Path) -> None:
    (tmp_path / "0002_computed.py").write_text('revision = "0002"\ndown_revision = f"{1:04d}"\n')
    with pytest.raises(ValueError, match=r"0002_computed.py: `down_revision` is not a literal"):
        read_revisions(tmp_path)
    (tmp_path / "0002_computed.py").write_text("down_revision = None\n")
    with pytest.raises(ValueError, match=r"0002_computed.py: no literal `revision"):
        read_revisions(tmp_path)
