"""Health checks for load balancers and orchestrators."""

import asyncio
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.api.dependencies import DatabaseDep
from app.api.exceptions import Problem, problem
from app.infrastructure.schema import ExpectedSchema, applied_revisions

READY_TIMEOUT_SECONDS = 2.0

router = APIRouter(prefix="/health", tags=["health"])


class HealthStatus(BaseModel):
    status: Literal["ok"] = "ok"


OK = HealthStatus()
EXPECTED_SCHEMA = ExpectedSchema()


@router.get("")
async def health() -> HealthStatus:
    """The process is up (does not touch the database)."""
    return OK


@router.get("/live")
async def live() -> HealthStatus:
    """Liveness probe: the process is up (does not touch the database)."""
    return OK


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
        return problem(
            request, 503, code="database_unavailable", detail="the database does not answer"
        )
    if missing := await EXPECTED_SCHEMA.missing(applied):
        return problem(
            request,
            503,
            code="database_not_migrated",
            detail=f"the database lacks {len(missing)} migration(s) this code expects; "
            "run the migrations (the service logs which)",
        )
    return OK
