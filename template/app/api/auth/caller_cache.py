"""Recently authenticated callers, kept in memory so a busy client does not cost a database
query (and, for a signed token, a signature check) on every request.

The bound, documented in the README: a change to a user or a credential (a revoked key, a
changed role, a deleted user) takes effect at once in the process that made it through the
API, and within `AUTH_CACHE_SECONDS` in every other process. `AUTH_CACHE_SECONDS=0` turns the
cache off. Entries never outlive the credential's own expiry.
"""

import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from app.domains.users.models import User
from app.domains.users.schemas import UserRead
from app.infrastructure.logging import user_id_var


@dataclass(frozen=True, slots=True)
class Authenticated:
    """What a credential proved: its user, its id (to forget it on revocation), its expiry."""

    user: User
    credential_id: str
    expires_at: datetime | None = None


@dataclass(slots=True)
class CachedCaller:
    user: UserRead
    credential_id: str
    valid_until: float
    last_use_recorded: float


class CallerCache:
    """At most `max_entries` callers, least recently used first out, each for `ttl` seconds."""

    def __init__(self, ttl: float, *, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, CachedCaller] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def get(self, fingerprint: str) -> CachedCaller | None:
        entry = self._entries.get(fingerprint)
        if entry is None:
            return None
        if entry.valid_until <= time.monotonic():
            del self._entries[fingerprint]
            return None
        self._entries.move_to_end(fingerprint)
        return entry

    def put(
        self,
        fingerprint: str,
        user: UserRead,
        *,
        credential_id: str,
        expires_at: datetime | None = None,
    ) -> CachedCaller | None:
        """Remember a caller until the TTL or the credential's expiry, whichever comes first."""
        if not self.enabled:
            return None
        now = time.monotonic()
        valid_until = now + self.ttl
        if expires_at is not None:
            remaining = (expires_at - datetime.now(UTC)).total_seconds()
            valid_until = min(valid_until, now + remaining)
        entry = CachedCaller(user, credential_id, valid_until, last_use_recorded=now)
        self._entries[fingerprint] = entry
        self._entries.move_to_end(fingerprint)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return entry

    async def caller(
        self, fingerprint: str, authenticate: Callable[[], Awaitable[Authenticated]]
    ) -> tuple[UserRead, CachedCaller | None, bool]:
        """The caller of a credential: remembered, else `authenticate()`d and remembered.

        Every credential goes through here: fingerprint, cache, verification, the user as
        `UserRead`, the cache again. Returns the caller, its cache entry (None when the cache is
        off) and whether it came from the cache.
        """
        if (cached := self.get(fingerprint)) is not None:
            user_id_var.set(str(cached.user.id))
            return cached.user, cached, True
        proof = await authenticate()
        caller = UserRead.model_validate(proof.user)
        entry = self.put(
            fingerprint, caller, credential_id=proof.credential_id, expires_at=proof.expires_at
        )
        user_id_var.set(str(caller.id))
        return caller, entry, False

    def forget_user(self, user_id: uuid.UUID) -> None:
        """Drop every entry of a user (after a change to their role, e-mail or account)."""
        self._forget(lambda entry: entry.user.id == user_id)

    def forget_credential(self, credential_id: str) -> None:
        """Drop the entries of one credential (revoked, or its account deleted)."""
        self._forget(lambda entry: entry.credential_id == credential_id)

    def _forget(self, matches: Callable[[CachedCaller], bool]) -> None:
        for fingerprint in [key for key, entry in self._entries.items() if matches(entry)]:
            del self._entries[fingerprint]
