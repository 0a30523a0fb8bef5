"""The connection to the Prefect API, shared by the worker and `make init-prefect`.

The address comes from the application settings (`PREFECT_API_URL`, `PREFECT_API_AUTH_STRING`),
so a missing or wrong value is reported in one line instead of Prefect silently starting a
throwaway local server.
"""

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from prefect import get_client
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

from app.infrastructure.config import Settings

WORK_POOL_TYPE = "process"


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
        async with get_client() as client:
            error = await client.api_healthcheck()
            if error is not None:
                raise PrefectUnavailable(_unreachable(url, error))
            yield client


def _unreachable(url: str, error: Exception) -> str:
    if isinstance(error, httpx.HTTPStatusError) and error.response.status_code in (401, 403):
        return f"the Prefect API at {url} refused the credentials: check PREFECT_API_AUTH_STRING"
    reason = str(error).strip() or type(error).__name__
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
