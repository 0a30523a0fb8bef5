"""Health endpoints answer without credentials; readiness reflects the database and its
migrations (an unavailable database: tests/api/test_database_outage.py)."""

import logging
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from app.infrastructure.database import Database
from tests.conftest import Serve
from tests.support.database import alembic_config, upgrade


async def test_liveness_endpoints(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/health", "/api/v1/health/live", "/api/v1/health/ready"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.json() == {"status": "ok"}


async def migrate(url: str, revision: str = "heads", *then: str) -> None:
    database = Database.from_url(url)
    async with database.engine.begin() as connection:
        await connection.run_sync(upgrade, revision)
        for statement in then:
            await connection.execute(text(statement))
    await database.dispose()


async def ready_answer(serve: Serve, url: str) -> httpx.Response:
    async with serve(Database.from_url(url)) as client:
        return await client.get("/api/v1/health/ready")


async def test_ready_is_503_while_the_database_lacks_a_migration(
    serve: Serve, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'behind.db'}"
    await migrate(url, "0001")
    expected = ScriptDirectory.from_config(alembic_config())
    missing = [r.revision for r in expected.walk_revisions() if r.revision != "0001"]
    assert missing, "the project has no revision after 0001 to leave out"

    with caplog.at_level(logging.WARNING, logger="app.infrastructure.schema"):
        response = await ready_answer(serve, url)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "database_not_migrated"
    assert int(response.headers["retry-after"]) >= 1
    assert f"lacks {len(missing)} migration(s)" in response.json()["detail"]
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert all(revision in logged for revision in missing), logged

    await migrate(url)
    assert (await ready_answer(serve, url)).status_code == 200


async def test_ready_accepts_a_database_ahead_of_the_code(serve: Serve, tmp_path: Path) -> None:
    """A newer release migrated first (a rolling update): this release keeps serving."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'ahead.db'}"
    await migrate(
        url,
        "heads",
        "DELETE FROM alembic_version",
        "INSERT INTO alembic_version (version_num) VALUES ('f00dfeed0001')",
    )
    assert (await ready_answer(serve, url)).status_code == 200
