"""Health checks for load balancers and orchestrators."""

import asyncio
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from app.api.dependencies import DatabaseDep
from app.api.exceptions import Problem, problem

READY_TIMEOUT_SECONDS = 2.0

router = APIRouter(prefix="/health", tags=["health"])


class HealthStatus(BaseModel):
    status: Literal["ok"] = "ok"


OK = HealthStatus()


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
    responses={503: {"model": Problem, "description": "The database does not answer."}},
)
async def ready(request: Request, database: DatabaseDep) -> HealthStatus | JSONResponse:
    """Readiness probe: the database answers a query."""
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            async with database.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception:
        return problem(
            request, 503, code="database_unavailable", detail="the database does not answer"
        )
    return OK
