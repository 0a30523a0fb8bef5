"""Health endpoints answer without credentials; readiness reflects the database."""

import httpx
from fastapi import FastAPI

from app.api.main import create_app
from app.infrastructure.config import Settings
from app.infrastructure.database import Database


async def test_liveness_endpoints(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/health", "/api/v1/health/live", "/api/v1/health/ready"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.json() == {"status": "ok"}


async def test_ready_is_503_when_the_database_does_not_answer(settings: Settings) -> None:
    # Nothing listens on port 1: connecting fails at once.
    broken = Database.from_url("postgresql+asyncpg://nobody:nothing@127.0.0.1:1/none")
    app: FastAPI = create_app(settings, database=broken)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/api/v1/health/ready")
            live = await client.get("/api/v1/health/live")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "database_unavailable"
    assert live.status_code == 200
