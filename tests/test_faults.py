"""T1: the default project, served as in production on PostgreSQL, degrades and never falls
over when its dependencies fail or its callers misbehave.

Its database sits behind a TCP proxy that the test freezes (connections stay open, nothing
answers) and closes (connections refused); its rate-limit store is a Redis that is not there.
The service must answer 503 with Retry-After within its timeouts while the database is gone,
recover on its own, never limit or fail its probes, refuse oversized bodies and headers before
reading them, refuse values no database stores, and send no server banner.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.helpers import answer, project_env, run
from tests.service import (
    Proxy,
    create_user,
    free_port,
    serving,
    temporary_database,
)
from tests.test_project import postgres_url

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("t1-default")]

TIMEOUT = 2  # seconds: DATABASE_CONNECT_, DATABASE_STATEMENT_ and DATABASE_POOL_TIMEOUT


class Client:
    """Plain HTTP/1.1 to the served API, timing each answer."""

    def __init__(self, base: str, api_key: str) -> None:
        self.host, self.port = urlsplit(base).hostname or "", urlsplit(base).port or 80
        self.headers = {"X-API-Key": api_key}

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, dict[str, str], bytes, float]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        started = time.monotonic()
        try:
            connection.request(method, path, body=body, headers={**self.headers, **(headers or {})})
            response = connection.getresponse()
            return (
                response.status,
                {name.lower(): value for name, value in response.getheaders()},
                response.read(),
                time.monotonic() - started,
            )
        finally:
            connection.close()


@pytest.fixture
def served(default_project: Path, tmp_path: Path) -> Iterator[tuple[Client, Proxy]]:
    server = urlsplit(postgres_url().replace("+asyncpg", ""))
    with temporary_database(postgres_url(), "faults") as url:
        proxy = Proxy(server.port or 5432)
        proxied = url.replace(f"{server.hostname}:{server.port or 5432}", f"127.0.0.1:{proxy.port}")
        env = project_env(
            answer(default_project, "python_version"),
            PORT=str(free_port()),
            ENVIRONMENT="test",
            DATABASE_URL=proxied,
            DATABASE_CONNECT_TIMEOUT=str(TIMEOUT),
            DATABASE_STATEMENT_TIMEOUT=str(TIMEOUT),
            DATABASE_POOL_TIMEOUT=str(TIMEOUT),
            RATE_LIMIT_STORAGE_URL="redis://127.0.0.1:1/0",  # nothing listens there
            RATE_LIMIT_DEFAULT="1000/minute",
            AUTH_CACHE_SECONDS="0",  # every /me asks the database (a cached caller would not)
            ACCESS_LOG="false",
        )
        run(["make", "migrate"], default_project, env)
        user = create_user(default_project, env, "faults@example.com", "admin")
        with serving(default_project, env, ["make", "serve", f"PORT={env['PORT']}"]) as base:
            yield Client(base, user["api_key"]), proxy
        proxy.close()


def problem_code(body: bytes) -> str:
    return json.loads(body)["code"]


def test_a_database_outage_is_503_within_the_timeouts_and_heals(
    served: tuple[Client, Proxy],
) -> None:
    client, proxy = served
    assert client.request("GET", "/api/v1/me")[0] == 200

    for outage, start, end in (
        ("frozen", proxy.freeze, proxy.thaw),
        ("refused", proxy.close, lambda: None),
    ):
        start()
        status, headers, body, waited = client.request("GET", "/api/v1/me")
        assert status == 503, (outage, status, body[:300])
        assert problem_code(body) == "database_unavailable", outage
        assert int(headers["retry-after"]) >= 1
        assert waited < 3 * TIMEOUT + 2, f"{outage}: /me took {waited:.1f} s"
        print(f"database {outage}: /me 503 in {waited:.2f} s", end="; ")
        status, _, body, waited = client.request("GET", "/api/v1/health/ready")
        assert status == 503, (outage, status, body[:300])
        assert problem_code(body) == "database_unavailable", outage
        assert waited < 2 + 1.5, f"{outage}: readiness took {waited:.1f} s (its timeout: 2 s)"
        print(f"readiness 503 in {waited:.2f} s")
        assert client.request("GET", "/api/v1/health/live")[0] == 200
        end()
        if outage == "frozen":  # the service heals by itself once the database answers
            thawed = time.monotonic()
            while client.request("GET", "/api/v1/me")[0] != 200:
                assert time.monotonic() < thawed + 30, "no recovery after the database came back"
                time.sleep(0.5)
            print(f"database back: /me 200 again after {time.monotonic() - thawed:.2f} s")


def test_without_its_rate_limit_store_the_service_serves(served: tuple[Client, Proxy]) -> None:
    client, _ = served
    for path in ("/api/v1/me", "/api/v1/health/live", "/api/v1/health/ready"):
        assert client.request("GET", path)[0] == 200, path
    created = client.request(
        "POST", "/api/v1/me/api-keys", json.dumps({"name": "ci"}).encode(), _JSON
    )
    assert created[0] == 201, created[2]


_JSON = {"Content-Type": "application/json"}


def test_hostile_input_is_refused_before_it_costs(served: tuple[Client, Proxy]) -> None:
    client, _ = served
    connection = http.client.HTTPConnection(client.host, client.port, timeout=30)
    connection.putrequest("POST", "/api/v1/users")
    connection.putheader("Content-Length", str(100 * 1024 * 1024))
    connection.putheader("Content-Type", "application/json")
    connection.endheaders()  # and no body: the answer must not wait for it
    started = time.monotonic()
    response = connection.getresponse()
    print(f"100 MiB declared: {response.status} in {time.monotonic() - started:.3f} s")
    assert (response.status, problem_code(response.read())) == (413, "body_too_large")
    connection.close()

    with contextlib.suppress(ConnectionError, http.client.HTTPException):
        status = client.request("GET", "/api/v1/me", headers={"X-Padding": "p" * 20_000_000})[0]
        assert status in (400, 431), status  # refused by the service, or by the server itself

    for body in ({"name": "a\u0000b"}, {"name": "far", "expires_at": "9999-12-31T23:59:59-12:00"}):
        answered = client.request("POST", "/api/v1/me/api-keys", json.dumps(body).encode(), _JSON)
        assert (answered[0], problem_code(answered[2])) == (422, "validation_failed"), body
    status, _, _, _ = client.request("GET", "/api/v1/users?search=a%00b")
    assert status == 422


def test_responses_are_hardened(served: tuple[Client, Proxy]) -> None:
    client, _ = served
    _, headers, _, _ = client.request("GET", "/api/v1/me")
    assert "server" not in headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
