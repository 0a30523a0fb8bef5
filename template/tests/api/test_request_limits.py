"""Input is bounded before it costs anything, no input reaches a 500, and every response
carries the security headers of a JSON API.

- A body over MAX_REQUEST_BODY_BYTES is 413 at once when its length is declared, and as soon
  as the limit is passed when it is streamed; headers over MAX_REQUEST_HEADER_BYTES are 431;
  a query string over MAX_QUERY_BYTES or MAX_QUERY_PARAMETERS is 414.
- A validation problem lists 20 errors at most, and says how many there were.
- Text with NUL characters, and times outside what every database stores, are 422.
"""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.api.exceptions import MAX_LISTED_ERRORS, install_exception_handlers
from app.api.middleware import MAX_QUERY_BYTES, MAX_QUERY_PARAMETERS, RequestLimitsMiddleware
from app.domains.base.schemas import Schema
from app.domains.users.models import User
from app.infrastructure.database import Database, create_sessionmaker
from tests.conftest import AuthHeaders, Serve

LIMIT = 4096


@pytest.fixture
async def small_client(
    serve: Serve, engine: AsyncEngine, connection: AsyncConnection
) -> AsyncIterator[httpx.AsyncClient]:
    database = Database(engine, create_sessionmaker(connection), owns_engine=False)
    async with serve(
        database, max_request_body_bytes=LIMIT, max_request_header_bytes=LIMIT
    ) as client:
        yield client


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


async def test_a_declared_body_over_the_limit_is_refused_unread(
    small_client: httpx.AsyncClient,
) -> None:
    response = await small_client.post("/api/v1/users", content=b"x" * (LIMIT + 1))
    assert_problem(response, 413, "body_too_large")


async def test_a_streamed_body_is_refused_once_it_passes_the_limit(
    small_client: httpx.AsyncClient,
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        nonlocal sent
        for _ in range(100):
            sent += 1024
            yield b" " * 1024

    response = await small_client.post("/api/v1/users", content=chunks())
    assert_problem(response, 413, "body_too_large")


async def test_headers_over_the_limit_are_refused(small_client: httpx.AsyncClient) -> None:
    response = await small_client.get("/api/v1/health", headers={"X-Padding": "p" * LIMIT})
    assert_problem(response, 431, "headers_too_large")


@pytest.mark.parametrize(
    "query",
    [
        "&".join(f"p{n}=1" for n in range(MAX_QUERY_PARAMETERS + 1)),
        "search=" + "a" * MAX_QUERY_BYTES,
    ],
    ids=["parameters", "bytes"],
)
async def test_a_query_string_over_its_bounds_is_refused_before_authentication(
    client: httpx.AsyncClient, query: str
) -> None:
    response = await client.get(f"/api/v1/users?{query}")
    assert_problem(response, 414, "query_too_large")


async def test_a_query_string_within_its_bounds_reaches_the_route(
    client: httpx.AsyncClient, auth_headers: AuthHeaders, admin: User
) -> None:
    query = "&".join(["size=5"] * MAX_QUERY_PARAMETERS)
    response = await client.get(f"/api/v1/users?{query}", headers=await auth_headers(admin))
    assert response.status_code == 200, response.text


async def test_a_validation_problem_lists_20_errors_and_counts_the_rest(
    client: httpx.AsyncClient, auth_headers: AuthHeaders, admin: User
) -> None:
    body = {f"unknown_{n}": n for n in range(500)} | {"email": "many@example.com"}
    response = await client.post("/api/v1/users", headers=await auth_headers(admin), json=body)
    assert_problem(response, 422, "validation_failed")
    assert len(response.json()["errors"]) == MAX_LISTED_ERRORS
    assert "500 errors" in response.json()["detail"]
    assert len(response.content) < 5000


async def test_nul_characters_in_a_query_are_422(
    client: httpx.AsyncClient, auth_headers: AuthHeaders, admin: User
) -> None:
    headers = await auth_headers(admin)
    response = await client.get("/api/v1/users", params={"search": "a\x00b"}, headers=headers)
    assert_problem(response, 422, "validation_failed")
    assert response.json()["errors"][0]["message"].endswith("must not contain NUL characters")


class Sample(Schema):
    name: str
    tags: list[str] = []
    when: datetime | None = None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"name": "a\x00b"}, "NUL"),
        ({"name": "ok", "tags": ["fine", "not\x00fine"]}, "NUL"),
        ({"name": "ok", "when": "9999-12-31T23:59:59-12:00"}, "out of range"),
        ({"name": "ok", "when": "0001-01-01T00:00:00+01:00"}, "out of range"),
    ],
)
def test_input_schemas_refuse_what_no_database_stores(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Sample.model_validate(values)
    assert Sample.model_validate({"name": "ok", "when": datetime(9999, 1, 1, tzinfo=UTC)})


async def test_responses_carry_the_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/health")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "strict-transport-security" not in response.headers
    assert "server" not in response.headers  # ASGI apps add none; uvicorn's is off


async def test_the_docs_page_keeps_working(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "content-security-policy" not in docs.headers  # it loads Swagger UI's scripts
    assert docs.headers["x-frame-options"] == "DENY"


async def test_hsts_when_tls_ends_in_front(
    serve: Serve, engine: AsyncEngine, connection: AsyncConnection
) -> None:
    database = Database(engine, create_sessionmaker(connection), owns_engine=False)
    async with serve(database, hsts_seconds=31_536_000) as client:
        response = await client.get("/api/v1/health")
    assert response.headers["strict-transport-security"] == "max-age=31536000"


@pytest.mark.parametrize(
    ("origins", "credentials"), [(["https://app.example.com"], "true"), (["*"], None)]
)
async def test_credentials_go_only_to_named_origins(
    serve: Serve,
    engine: AsyncEngine,
    connection: AsyncConnection,
    origins: list[str],
    credentials: str | None,
) -> None:
    database = Database(engine, create_sessionmaker(connection), owns_engine=False)
    async with serve(database, cors_origins=origins) as client:
        response = await client.get("/api/v1/health", headers={"Origin": "https://app.example.com"})
    assert response.headers.get("access-control-allow-credentials") == credentials


async def test_a_body_that_stops_arriving_is_408() -> None:
    """A client that stops sending its body mid-way gets 408 once the stall limit passes,
    instead of holding the request open."""
    app = FastAPI()
    install_exception_handlers(app)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"length": len(await request.body())}

    limited = RequestLimitsMiddleware(
        app, max_body_bytes=LIMIT, max_header_bytes=LIMIT, body_stall_seconds=0.2
    )

    async def stalling() -> AsyncIterator[bytes]:
        yield b"{"
        await asyncio.sleep(5)
        yield b"}"

    transport = httpx.ASGITransport(app=limited)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        async with asyncio.timeout(3):
            response = await client.post("/echo", content=stalling())
            whole = await client.post("/echo", content=b"{}")
    assert_problem(response, 408, "body_stalled")
    assert whole.json() == {"length": 2}
