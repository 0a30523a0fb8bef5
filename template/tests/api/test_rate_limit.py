"""The optional global limit per client, behind trusted proxies, and the storage setting; the
probes are never limited, and a store that fails or hangs lets requests through."""

import asyncio
import logging
import re
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest
from limits import parse
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.api import rate_limit
from app.api.exceptions import RateLimited
from app.api.main import create_app
from app.api.rate_limit import RateLimiter
from app.infrastructure.config import Settings
from app.infrastructure.database import Database, create_sessionmaker
from tests.conftest import Serve

KUBERNETES_SETTINGS = Path(__file__).parents[2] / "deploy" / "kubernetes" / "base" / "settings.yaml"


@pytest.fixture
def silent_store() -> Iterator[str]:
    """A Redis URL whose server accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


@pytest.fixture(params=["refused", "silent"])
def unavailable_store(request: pytest.FixtureRequest) -> str:
    if request.param == "refused":
        return "redis://127.0.0.1:1/0"  # nothing listens on port 1
    return request.getfixturevalue("silent_store")


@pytest.fixture
async def limited_client(
    serve: Serve, engine: AsyncEngine, connection: AsyncConnection
) -> AsyncIterator[httpx.AsyncClient]:
    async with limited(serve, engine, connection, "memory://") as client:
        yield client


def limited(
    serve: Serve, engine: AsyncEngine, connection: AsyncConnection, store: str
) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """The application with a global limit of 2/minute on `store`, behind a trusted proxy."""
    return serve(
        Database(engine, create_sessionmaker(connection), owns_engine=False),
        rate_limit_default="2/minute",
        trusted_proxies=["127.0.0.1"],
        rate_limit_storage_url=store,
    )


async def test_the_global_limit_is_off_by_default(client: httpx.AsyncClient) -> None:
    statuses = {(await client.get("/api/v1/health")).status_code for _ in range(20)}
    assert statuses == {200}


async def test_the_global_limit_applies_per_client(limited_client: httpx.AsyncClient) -> None:
    first = {"X-Forwarded-For": "203.0.113.1"}
    second = {"X-Forwarded-For": "203.0.113.2"}
    statuses = [
        (await limited_client.get("/api/v1/me", headers=first)).status_code for _ in range(3)
    ]
    assert statuses == [401, 401, 429]
    limited = await limited_client.get("/api/v1/me", headers=first)
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["content-type"] == "application/problem+json"
    assert (await limited_client.get("/api/v1/me", headers=second)).status_code == 401


async def test_behind_the_shipped_proxies_a_client_cannot_choose_its_address(
    serve: Serve, engine: AsyncEngine, connection: AsyncConnection
) -> None:
    """The Kubernetes settings' TRUSTED_PROXIES, behind a load balancer that appends the
    client's address to the X-Forwarded-For the client sent (this test's peer is loopback)."""
    shipped = re.search(r'^ *TRUSTED_PROXIES: "(.*)"$', KUBERNETES_SETTINGS.read_text(), re.M)
    assert shipped, f"{KUBERNETES_SETTINGS} sets no TRUSTED_PROXIES"
    database = Database(engine, create_sessionmaker(connection), owns_engine=False)
    proxies = shipped[1].split(",")
    async with serve(database, rate_limit_default="2/minute", trusted_proxies=proxies) as client:
        statuses = [
            (await client.get("/api/v1/me", headers={"X-Forwarded-For": own})).status_code
            for own in ("198.51.100.1, 203.0.113.7", "198.51.100.2, 203.0.113.7", "203.0.113.7")
        ]
    assert statuses == [401, 401, 429]


async def test_the_probes_are_never_limited(limited_client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/health", "/api/v1/health/live", "/api/v1/health/ready"):
        statuses = {(await limited_client.get(path)).status_code for _ in range(5)}
        assert statuses == {200}, path


async def test_an_unavailable_store_lets_requests_through_and_says_so_once(
    serve: Serve,
    engine: AsyncEngine,
    connection: AsyncConnection,
    unavailable_store: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rate_limit, "STORE_TIMEOUT_SECONDS", 0.05)
    with caplog.at_level(logging.WARNING, logger="app.api.rate_limit"):
        async with limited(serve, engine, connection, unavailable_store) as client:
            async with asyncio.timeout(10):  # each hit gives up on a silent store in time
                statuses = [(await client.get("/api/v1/me")).status_code for _ in range(4)]
                live = await client.get("/api/v1/health/live")
    assert statuses == [401] * 4  # never 429, never 500: the limit fails open
    assert live.status_code == 200
    warnings = [r.getMessage() for r in caplog.records if r.name == "app.api.rate_limit"]
    assert len(warnings) == 1, warnings
    assert "rate-limit store is unavailable" in warnings[0]


async def test_a_limit_still_applies_while_the_store_answers() -> None:
    limiter = RateLimiter("memory://")
    limit = parse("1/minute")
    await limiter.hit(limit, "probe")
    with pytest.raises(RateLimited):
        await limiter.hit(limit, "probe")


@pytest.mark.parametrize("url", ["memory://", "redis://localhost:6379/0"])
def test_supported_storages(url: str) -> None:
    RateLimiter(url)


def test_an_unsupported_storage_names_the_setting() -> None:
    with pytest.raises(ValueError, match="RATE_LIMIT_STORAGE_URL"):
        RateLimiter("memcached://localhost:11211")


def test_a_malformed_limit_names_the_setting(settings: Settings) -> None:
    with pytest.raises(ValueError, match="RATE_LIMIT_DEFAULT"):
        create_app(settings.model_copy(update={"rate_limit_default": "lots"}))
