"""The optional global limit per client, behind trusted proxies, and the storage setting."""

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.api.main import create_app
from app.api.rate_limit import RateLimiter
from app.infrastructure.config import Settings
from app.infrastructure.database import Database, create_sessionmaker


@pytest.fixture
async def limited_client(
    settings: Settings, engine: AsyncEngine, connection: AsyncConnection
) -> AsyncIterator[httpx.AsyncClient]:
    limited = settings.model_copy(
        update={"rate_limit_default": "2/minute", "trusted_proxies": ["127.0.0.1"]}
    )
    database = Database(engine, create_sessionmaker(connection), owns_engine=False)
    app = create_app(limited, database=database)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_the_global_limit_is_off_by_default(client: httpx.AsyncClient) -> None:
    statuses = {(await client.get("/api/v1/health")).status_code for _ in range(20)}
    assert statuses == {200}


async def test_the_global_limit_applies_per_client(limited_client: httpx.AsyncClient) -> None:
    first = {"X-Forwarded-For": "203.0.113.1"}
    second = {"X-Forwarded-For": "203.0.113.2"}
    statuses = [
        (await limited_client.get("/api/v1/health", headers=first)).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    limited = await limited_client.get("/api/v1/health", headers=first)
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["content-type"] == "application/problem+json"
    assert (await limited_client.get("/api/v1/health", headers=second)).status_code == 200


@pytest.mark.parametrize("url", ["memory://", "redis://localhost:6379/0"])
def test_supported_storages(url: str) -> None:
    RateLimiter(url)


def test_an_unsupported_storage_names_the_setting() -> None:
    with pytest.raises(ValueError, match="RATE_LIMIT_STORAGE_URL"):
        RateLimiter("memcached://localhost:11211")


def test_a_malformed_limit_names_the_setting(settings: Settings) -> None:
    with pytest.raises(ValueError, match="RATE_LIMIT_DEFAULT"):
        create_app(settings.model_copy(update={"rate_limit_default": "lots"}))
