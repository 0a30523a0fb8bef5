"""Health checks for load balancers and orchestrators."""

import asyncio
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from app.api.dependencies import DatabaseDep
from app.api.exceptions import Problem, retry_later
from app.infrastructure.schema import ExpectedSchema, applied_revisions

READY_TIMEOUT_SECONDS = 2.0

router = APIRouter(prefix="/health", tags=["health"])


class HealthStatus(BaseModel):
    status: Literal["ok"] = "ok"


OK = HealthStatus()
# What the probes answer, serialized once: a probe is the most frequent request a service gets.
OK_BODY = OK.model_dump_json().encode()
EXPECTED_SCHEMA = ExpectedSchema()


def ok() -> Response:
    return Response(OK_BODY, media_type="application/json")


@router.get("", response_model=HealthStatus)
async def health() -> Response:
    """The process is up (does not touch the database)."""
    return ok()


@router.get("/live", response_model=HealthStatus)
async def live() -> Response:
    """Liveness probe: the process is up (does not touch the database)."""
    return ok()


@router.get(
    "/ready",
    response_model=HealthStatus,
    responses={
        503: {
            "model": Problem,
            "description": "The database does not answer (`database_unavailable`), or lacks "
            "revisions this code expects (`database_not_migrated`).",
        }
    },
)
async def ready(request: Request, database: DatabaseDep) -> HealthStatus | JSONResponse:
    """Readiness probe: the database answers and has every migration this code expects."""
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            async with database.engine.connect() as connection:
                applied = await connection.run_sync(applied_revisions)
    except Exception:
        return retry_later(request, "database_unavailable", "the database does not answer")
    if missing := await EXPECTED_SCHEMA.missing(applied):
        return retry_later(
            request,
            "database_not_migrated",
            f"the database lacks {len(missing)} migration(s) this code expects; "
            "run the migrations (the service logs which)",
        )
    return OK
