"""Webhooks: signed calls from other services, served outside the API prefix (at addresses
configured in those services, so they never move)."""

from fastapi import APIRouter

from app.api.routes.webhooks import clerk

router = APIRouter(prefix="/webhooks")
router.include_router(clerk.router)
