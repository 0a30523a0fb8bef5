"""POST /webhooks/clerk: Clerk's user events keep the users table in step with Clerk.

Clerk delivers webhooks through Svix. The signature and timestamp are checked before the body
is read; a bad or stale one is a 401. `user.created` creates (or links) the user,
`user.updated` updates a known one and `user.deleted` deletes it. The rules live in
`app/domains/users/clerk.py` and make every delivery safe to repeat, so retries, replays and
concurrent duplicates end with one row. Events about unknown users, and event types this
service does not use, are acknowledged (200) so Clerk stops sending them.
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from app.api.dependencies import CallerCacheDep, DatabaseDep, SettingsDep
from app.api.exceptions import NotAuthenticated, problem_responses
from app.domains.base.exceptions import Conflict
from app.domains.users.clerk import ClerkAccount, ClerkId, ClerkUserService, SyncOutcome
from app.infrastructure.clerk import InvalidWebhook, verify_webhook
from app.infrastructure.database import Database

router = APIRouter(tags=["webhooks"])
logger = logging.getLogger(__name__)


class InvalidWebhookSignature(NotAuthenticated):
    code = "invalid_webhook_signature"


class ClerkVerification(BaseModel):
    status: str | None = None


class ClerkEmailAddress(BaseModel):
    id: str
    email_address: str
    verification: ClerkVerification | None = None


class ClerkUser(BaseModel):
    """The `data` of `user.created` and `user.updated`: the fields this service reads."""

    id: ClerkId
    primary_email_address_id: str | None = None
    email_addresses: list[ClerkEmailAddress] = Field(default_factory=list)
    # When Clerk last changed the user, in milliseconds since the epoch (up to year 9999).
    updated_at: int | None = Field(default=None, ge=0, le=253_402_300_799_999)

    def account(self) -> ClerkAccount:
        primary = next(
            (item for item in self.email_addresses if item.id == self.primary_email_address_id),
            None,
        )
        return ClerkAccount(
            clerk_id=self.id,
            email=primary.email_address if primary else None,
            email_verified=bool(
                primary and primary.verification and primary.verification.status == "verified"
            ),
            changed_at=(
                None
                if self.updated_at is None
                else datetime.fromtimestamp(self.updated_at / 1000, UTC)
            ),
        )


class ClerkDeletedUser(BaseModel):
    """The `data` of `user.deleted`."""

    id: ClerkId | None = None


class ClerkEvent(BaseModel):
    type: str = Field(max_length=100, description="For example user.created.")
    data: dict[str, Any]


class WebhookReceipt(BaseModel):
    type: str = Field(description="The event type received.")
    outcome: SyncOutcome = Field(description="What the delivery changed.")


def _validated[T](build: Callable[[], T], *loc: str) -> T:
    """`build()`, with a validation error answered as a 422 like any bad request body."""
    try:
        return build()
    except ValidationError as error:
        errors = [
            {"loc": (*loc, *item["loc"]), "msg": item["msg"], "type": item["type"]}
            for item in error.errors(include_url=False, include_input=False)
        ]
        raise RequestValidationError(errors) from error


@router.post(
    "/clerk",
    responses=problem_responses(InvalidWebhookSignature, Conflict),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ClerkEvent.model_json_schema()}},
        }
    },
)
async def receive_clerk_event(
    request: Request, settings: SettingsDep, database: DatabaseDep, callers: CallerCacheDep
) -> WebhookReceipt:
    """Receive a Clerk webhook, signed by Svix; user events sync the users table."""
    body = await request.body()
    if settings.clerk_webhook_secret is None:
        raise InvalidWebhookSignature("webhooks cannot be verified: set CLERK_WEBHOOK_SECRET")
    try:
        verify_webhook(settings.clerk_webhook_secret.get_secret_value(), request.headers, body)
    except InvalidWebhook as error:
        raise InvalidWebhookSignature(error.message) from error
    event = _validated(lambda: ClerkEvent.model_validate_json(body), "body")
    outcome = await _handle(event, database)
    if outcome is SyncOutcome.DELETED:
        # Entries are kept per credential, and which other credentials the deleted user had is
        # not known here: every entry goes (deletions are rare), so none outlives the user.
        callers.forget_all()
    elif outcome is SyncOutcome.UPDATED and isinstance(clerk_id := event.data.get("id"), str):
        callers.forget_credential(clerk_id)
    logger.info("Clerk webhook %s (%s): %s", event.type, request.headers["svix-id"], outcome)
    return WebhookReceipt(type=event.type, outcome=outcome)


async def _handle(event: ClerkEvent, database: Database) -> SyncOutcome:
    if event.type in ("user.created", "user.updated"):
        account = _validated(lambda: ClerkUser.model_validate(event.data).account(), "body", "data")
        async with database.unit_of_work(write=True) as session:
            service = ClerkUserService.for_system(session)
            return await service.sync(account, create=event.type == "user.created")
    if event.type == "user.deleted":
        deleted = _validated(lambda: ClerkDeletedUser.model_validate(event.data), "body", "data")
        if deleted.id is None:
            return SyncOutcome.IGNORED
        async with database.unit_of_work(write=True) as session:
            return await ClerkUserService.for_system(session).remove(deleted.id)
    return SyncOutcome.IGNORED
