"""The connection to the Prefect API, shared by the worker and `make init-prefect`.

The address comes from the application settings (`PREFECT_API_URL`, `PREFECT_API_AUTH_STRING`),
so a missing or wrong value is reported in one line instead of Prefect silently starting a
throwaway local server. Before anything else, one bounded check (`CHECK_TIMEOUT_SECONDS`, no
retries) asks the API for something its credentials guard: Prefect's own client would wait a
minute per attempt, five times, on an API that accepts connections and never answers.
"""

import asyncio
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from prefect import get_client
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.settings import (
    PREFECT_API_AUTH_STRING,
    PREFECT_API_REQUEST_TIMEOUT,
    PREFECT_API_URL,
    PREFECT_CLIENT_MAX_RETRIES,
    temporary_settings,
)

from app.infrastructure.config import Settings

WORK_POOL_TYPE = "process"
# How long the start-up check waits for the Prefect API to answer.
CHECK_TIMEOUT_SECONDS = 10.0


class PrefectUnavailable(Exception):
    """The Prefect API is not configured, not reachable, or not ready for the worker."""


@asynccontextmanager
async def prefect_client(settings: Settings) -> AsyncGenerator[PrefectClient]:
    """A client of the configured Prefect API, after checking that the API answers."""
    url = settings.prefect_api_url
    if not url:
        raise PrefectUnavailable(
            "PREFECT_API_URL is not set: point it at a Prefect server, e.g. "
            "http://127.0.0.1:4200/api (start one with `uv run prefect server start`)"
        )
    updates: dict[Any, Any] = {PREFECT_API_URL: url}
    if settings.prefect_api_auth_string is not None:
        updates[PREFECT_API_AUTH_STRING] = settings.prefect_api_auth_string.get_secret_value()
    with temporary_settings(updates=updates):
        if (error := await _check()) is not None:
            raise PrefectUnavailable(_unreachable(url, error))
        async with get_client() as client:
            yield client


async def _check() -> Exception | None:
    """What keeps the configured API from serving the worker, if anything. Its health route
    answers anyone, so the check reads the work pools too, which the credentials guard."""
    bounded: dict[Any, Any] = {
        PREFECT_API_REQUEST_TIMEOUT: CHECK_TIMEOUT_SECONDS,
        PREFECT_CLIENT_MAX_RETRIES: 0,
    }
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            with temporary_settings(updates=bounded):
                async with get_client() as client:
                    if (error := await client.api_healthcheck()) is not None:
                        return error
                    await client.read_work_pools(limit=1)
    except TimeoutError:
        return TimeoutError(f"no answer within {CHECK_TIMEOUT_SECONDS:g} s")
    except (httpx.HTTPError, OSError) as error:
        return error
    return None


def _unreachable(url: str, error: Exception) -> str:
    if isinstance(error, httpx.HTTPStatusError):
        status = error.response.status_code
        if status in (401, 403):
            return (
                f"the Prefect API at {url} refused the credentials: check PREFECT_API_AUTH_STRING"
            )
        if status == 404 and not url.rstrip("/").endswith("/api"):
            return f"no Prefect API at {url}: PREFECT_API_URL ends in /api ({url}/api?)"
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return f"the Prefect API at {url} is unreachable ({reason}): start it or fix PREFECT_API_URL"


async def ensure_work_pool(client: PrefectClient, name: str) -> bool:
    """Create the worker's work pool unless it exists; True when it was created."""
    try:
        await client.create_work_pool(WorkPoolCreate(name=name, type=WORK_POOL_TYPE))
    except ObjectAlreadyExists:
        return False
    return True


async def require_work_pool(client: PrefectClient, name: str) -> None:
    try:
        await client.read_work_pool(name)
    except ObjectNotFound:
        raise PrefectUnavailable(
            f"the work pool {name!r} does not exist: run `make init-prefect` first"
        ) from None
