"""One error shape (RFC 9457) for every failure, request ids, and commit-before-response."""

import logging

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domains.users.models import User
from tests.conftest import AuthHeaders

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "code", "request_id"}


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    return body


@pytest.fixture
async def admin_headers(admin: User, auth_headers: AuthHeaders) -> dict[str, str]:
    return await auth_headers(admin)


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/nothing-here"), 404)
    assert_problem(await client.put("/api/v1/health"), 405)


async def test_head_is_answered_as_get_without_the_body(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    for path in ("/api/v1/health/live", "/api/v1/users"):
        got = await client.get(path, headers=admin_headers)
        head = await client.head(path, headers=admin_headers)
        assert (head.status_code, got.status_code) == (200, 200)
        assert head.content == b""
        assert head.headers["content-length"] == got.headers["content-length"]
        assert head.headers["content-type"] == got.headers["content-type"]
    refused = await client.head("/api/v1/users")
    assert (refused.status_code, refused.content) == (401, b"")
    assert refused.headers["content-type"] == "application/problem+json"
    assert (await client.head("/api/v1/nothing-here")).status_code == 404


async def test_method_not_allowed_names_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/v1/users")
    assert_problem(response, 405)
    assert response.headers["allow"] == "GET, HEAD, POST"


@pytest.mark.parametrize(
    ("method", "path", "body", "where"),
    [
        ("POST", "/api/v1/users", {"email": "not-an-email"}, ["body", "email"]),
        ("POST", "/api/v1/users", {"email": "a@example.com", "role": "root"}, ["body", "role"]),
        ("POST", "/api/v1/users", {"email": "a@example.com", "admin": True}, ["body", "admin"]),
        ("PATCH", "/api/v1/users/not-a-uuid", {}, ["path", "user_id"]),
        ("GET", "/api/v1/users?page=0", None, ["query", "page"]),
        ("GET", "/api/v1/users?page=1000000000000000001", None, ["query", "page"]),
        ("GET", "/api/v1/users?size=100000", None, ["query", "size"]),
        ("GET", "/api/v1/users?role=root", None, ["query", "role"]),
        ("GET", "/api/v1/users?unknown=1", None, ["query", "unknown"]),
        ("GET", "/api/v1/users?sort=password", None, ["sort"]),
        ("GET", "/api/v1/users?sort=-", None, ["sort"]),
        ("GET", "/api/v1/users?sort=" + "e" * 65, None, ["query", "sort"]),
    ],
)
async def test_bad_input_is_422_never_500(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    method: str,
    path: str,
    body: object,
    where: list[str],
) -> None:
    response = await client.request(method, path, headers=admin_headers, json=body)
    problem = assert_problem(response, 422)
    errors = problem["errors"]
    assert isinstance(errors, list)
    assert where in [error["loc"] for error in errors]


async def test_malformed_json_is_422(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/users",
        headers={**admin_headers, "content-type": "application/json"},
        content=b"{not json",
    )
    assert_problem(response, 422)


async def test_validation_errors_do_not_echo_input(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/users", headers=admin_headers, json={"email": "secret-value-123"}
    )
    assert "secret-value-123" not in response.text


async def test_401_names_the_accepted_schemes(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/me")
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == app.state.authentication_challenges
    assert response.headers["www-authenticate"]


async def test_request_id_is_echoed_when_well_formed(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/api/v1/health", headers={"X-Request-ID": "abc-123.x"})
    assert echoed.headers["x-request-id"] == "abc-123.x"
    replaced = await client.get("/api/v1/health", headers={"X-Request-ID": "bad id\twith tab"})
    assert replaced.headers["x-request-id"] not in {"bad id\twith tab", ""}
    assert len(replaced.headers["x-request-id"]) == 32


async def test_unhandled_errors_are_a_500_problem(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode() -> None:
        raise RuntimeError("boom: internal detail")

    app.add_api_route("/api/v1/explode", explode)
    with caplog.at_level(logging.ERROR):
        response = await client.get("/api/v1/explode")
    body = assert_problem(response, 500)
    assert "boom" not in response.text
    assert body["code"] == "internal_error"
    request_ids = {getattr(record, "request_id", None) for record in caplog.records}
    assert body["request_id"] in request_ids


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        (ConnectionError("the database went away during commit"), 503),
        (RuntimeError("a bug in a commit hook"), 500),
    ],
    ids=["database-gone", "bug"],
)
async def test_a_failed_commit_is_a_5xx_and_nothing_is_stored(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception,
    status: int,
) -> None:
    async def failing_commit(self: AsyncSession) -> None:
        raise failure

    # Use the key once first, so the request below commits nothing but its own work.
    assert (await client.get("/api/v1/me", headers=admin_headers)).status_code == 200

    monkeypatch.setattr(AsyncSession, "commit", failing_commit)
    response = await client.post(
        "/api/v1/users", headers=admin_headers, json={"email": "ghost@example.com"}
    )
    monkeypatch.undo()

    assert_problem(response, status)
    if status == 503:
        assert response.headers["retry-after"] == "5"
        assert response.json()["code"] == "database_unavailable"
    stored = await session.scalar(select(User).where(User.email == "ghost@example.com"))
    assert stored is None


async def test_openapi_declares_problem_responses(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    create_user = spec["paths"]["/api/v1/users"]["post"]["responses"]
    assert {"400", "401", "403", "409", "422"} <= set(create_user)
    assert "application/problem+json" in create_user["409"]["content"]


async def test_openapi_states_what_validation_enforces(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    parameters = spec["paths"]["/api/v1/users"]["get"]["parameters"]
    sort = next(parameter for parameter in parameters if parameter["name"] == "sort")
    assert {"email", "-email", "created_at", "-created_at"} <= set(sort["schema"]["enum"])
    update = spec["components"]["schemas"]["UserUpdate"]["properties"]
    assert "null" not in str(update["email"])
