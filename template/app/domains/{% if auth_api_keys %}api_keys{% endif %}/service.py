"""API key rules.

- A user lists, issues and revokes only their own keys (admins included).
- A user holds at most `max_active` working keys; the check holds under concurrent requests.
- The plaintext exists only in the value `issue` returns; what is stored is its keyed digest.
- Authentication is a system operation (no user is known yet) and records a key's use at most
  once per `USE_RECORD_INTERVAL`.
- Keys revoked or expired for longer than a grace period are purged by the system only; until
  then they stay listed, so their owners can see what stopped working and when.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.domains.api_keys.exceptions import APIKeyLimitReached, ExpiryInThePast, InvalidAPIKey
from app.domains.api_keys.models import APIKey
from app.domains.api_keys.repository import APIKeyRepository
from app.domains.api_keys.schemas import APIKeyCreate, APIKeyFilters
from app.domains.base.exceptions import NotFound, PermissionDenied, ValidationFailed
from app.domains.base.models import utc_now
from app.domains.base.service import Action, DomainService
from app.domains.users.models import User
from app.domains.users.repository import UserRepository
from app.infrastructure.security import generate_token, keyed_digest

KEY_PREFIX = "sk_"
DISPLAY_PREFIX_LENGTH = 10
MAX_KEY_LENGTH = 128
USE_RECORD_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class IssuedAPIKey:
    api_key: APIKey
    plaintext: str


class APIKeyService(DomainService[APIKey, APIKeyFilters, APIKeyRepository]):
    """Get, list, issue, revoke, authenticate and purge: keys are never edited or created as
    plain records, so the CRUD surface of `Service` is not here at all."""

    repository_class = APIKeyRepository

    def _check_general_permissions(self, action: Action) -> None:
        """Every user may read, list, issue and revoke keys; which ones is the owner rule."""

    def _check_instance_permissions(
        self, action: Action, instance: APIKey, changes: Mapping[str, Any] | None = None
    ) -> None:
        if instance.user_id != self.context.user_id:
            raise PermissionDenied("API keys belong to their owner only")

    async def issue(
        self,
        data: APIKeyCreate,
        *,
        secret: str,
        max_active: int,
        owner_id: uuid.UUID | None = None,
        now: datetime | None = None,
    ) -> IssuedAPIKey:
        """Create a key for `owner_id` (default: the acting user) and return its plaintext once."""
        self._authorize(Action.CREATE)
        now = now or utc_now()
        owner_id = owner_id or self.context.user_id
        if data.expires_at is not None and data.expires_at <= now:
            raise ExpiryInThePast()
        # Lock the owner first, so concurrent issues for one user count one after the other.
        if await UserRepository(self.session, self.actor).lock(owner_id) is None:
            raise NotFound(f"User {owner_id} not found")
        if await self.repository.count_active(owner_id, now) >= max_active:
            raise APIKeyLimitReached(max_active)
        plaintext = generate_token(KEY_PREFIX)
        api_key = APIKey(
            user_id=owner_id,
            name=data.name,
            prefix=plaintext[:DISPLAY_PREFIX_LENGTH],
            key_hash=keyed_digest(secret, plaintext),
            expires_at=data.expires_at,
            created_by=self.actor_id,
            updated_by=self.actor_id,
        )
        self._authorize(Action.CREATE, [api_key])
        await self.repository.add(api_key)
        return IssuedAPIKey(api_key=api_key, plaintext=plaintext)

    async def revoke(self, key_id: uuid.UUID, *, now: datetime | None = None) -> APIKey:
        """Stop a key from working; revoking a revoked key changes nothing."""
        api_key = await self._get_visible(key_id)
        self._authorize(Action.DELETE, [api_key])
        if api_key.revoked_at is not None:
            return api_key
        values = {"revoked_at": now or utc_now(), "updated_by": self.actor_id}
        return await self.repository.update(api_key, values)

    async def authenticate(
        self, plaintext: str, *, secret: str, now: datetime | None = None
    ) -> tuple[APIKey, User]:
        """The key and its owner for a presented plaintext; `InvalidAPIKey` otherwise."""
        if not plaintext.startswith(KEY_PREFIX) or len(plaintext) > MAX_KEY_LENGTH:
            raise InvalidAPIKey()
        found = await self.repository.find_with_owner_by_hash_unscoped(
            keyed_digest(secret, plaintext)
        )
        if found is None or not found[0].is_active(now or utc_now()):
            raise InvalidAPIKey()
        return found

    def use_record_due(self, api_key: APIKey, *, now: datetime | None = None) -> bool:
        """Whether this use of `api_key` should be written (the last record is stale)."""
        return api_key.use_is_stale(now or utc_now(), USE_RECORD_INTERVAL)

    async def record_use_by_id(self, key_id: uuid.UUID, *, now: datetime | None = None) -> bool:
        """Write `last_used_at` unless a use was recorded in the last interval (checked in SQL)."""
        return await self.repository.touch_unscoped(key_id, now or utc_now(), USE_RECORD_INTERVAL)

    async def purge_stale(self, *, grace: timedelta, now: datetime | None = None) -> int:
        """Delete the keys revoked or expired more than `grace` ago; the number deleted."""
        if not self.is_system:
            raise PermissionDenied("only the system purges API keys")
        if grace < timedelta(0):
            raise ValidationFailed.for_field("grace", "must not be negative")
        return await self.repository.delete_stale_unscoped((now or utc_now()) - grace)
