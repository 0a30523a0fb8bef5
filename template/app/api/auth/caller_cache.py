"""Recently authenticated callers, kept in memory so a busy client does not cost a database
query (and, for a signed token, a signature check) on every request.

The bound, documented in the README: a change to a user or a credential (a revoked key, a
changed role, a deleted user) takes effect at once in the process that made it through the
API, and within `AUTH_CACHE_SECONDS` in every other process. "At once" includes the requests
that look a caller up while the change is not yet committed: they read it as it was, so what
they would remember is dropped again when the change commits. `AUTH_CACHE_SECONDS=0` turns the
cache off. Entries never outlive the credential's own expiry.

A busy caller's entry is refreshed by one request during the last fifth of its life while the
others keep using it, and callers missing at the same moment share one lookup: an expiry never
sends every waiting request to the database at once.
"""

import asyncio
import contextlib
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import SessionTransaction

from app.domains.users.models import User
from app.domains.users.schemas import UserRead
from app.infrastructure.logging import user_id_var


@dataclass(frozen=True, slots=True)
class Authenticated:
    """What a credential proved: its user, its id (to forget it on revocation), its expiry."""

    user: User
    credential_id: str
    expires_at: datetime | None = None


class LookupFailed(Exception):
    """The lookup another request was waiting for was cancelled."""


@dataclass(slots=True)
class CachedCaller:
    user: UserRead
    credential_id: str
    valid_until: float
    last_use_recorded: float
    refresh_after: float = 0.0
    refreshing: bool = False


class CallerCache:
    """At most `max_entries` callers, least recently used first out, each for `ttl` seconds."""

    # The share of an entry's life, at its end, during which one request refreshes it.
    REFRESH_SHARE = 0.2

    def __init__(self, ttl: float, *, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, CachedCaller] = OrderedDict()
        # Lookups in progress, which callers missing at the same moment wait for.
        self._lookups: dict[str, asyncio.Future[CachedCaller | None]] = {}
        # Bumped by every `forget_*`, so that a lookup that started before cannot bring back
        # what was forgotten.
        self._generation = 0

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
        refresh_after = valid_until - self.REFRESH_SHARE * (valid_until - now)
        previous = self._entries.get(fingerprint)
        recorded = previous.last_use_recorded if previous is not None else now
        entry = CachedCaller(user, credential_id, valid_until, recorded, refresh_after)
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
        off) and whether it came from the cache (or from another request's lookup).
        """
        cached = self.get(fingerprint)
        if cached is not None and not self._claims_refresh(cached):
            user_id_var.set(str(cached.user.id))
            return cached.user, cached, True
        if cached is None and (lookup := self._lookups.get(fingerprint)) is not None:
            # Another request is looking this credential up: its answer is ours, unless it
            # fails (then this request tries on its own, and answers for itself).
            with contextlib.suppress(Exception):
                if (shared := await asyncio.shield(lookup)) is not None:
                    user_id_var.set(str(shared.user.id))
                    return shared.user, shared, True
        caller, entry = await self._look_up(fingerprint, authenticate, refreshing=cached)
        user_id_var.set(str(caller.id))
        return caller, entry, False

    def _claims_refresh(self, entry: CachedCaller) -> bool:
        """Whether this request refreshes the entry: the first to see it in its last fifth."""
        if entry.refreshing or time.monotonic() < entry.refresh_after:
            return False
        entry.refreshing = True
        return True

    async def _look_up(
        self,
        fingerprint: str,
        authenticate: Callable[[], Awaitable[Authenticated]],
        *,
        refreshing: CachedCaller | None,
    ) -> tuple[UserRead, CachedCaller | None]:
        generation = self._generation
        lookup: asyncio.Future[CachedCaller | None] | None = None
        if self.enabled and refreshing is None:
            lookup = asyncio.get_running_loop().create_future()
            self._lookups[fingerprint] = lookup
        try:
            proof = await authenticate()
            caller = UserRead.model_validate(proof.user)
            entry = None
            if generation == self._generation:
                entry = self.put(
                    fingerprint,
                    caller,
                    credential_id=proof.credential_id,
                    expires_at=proof.expires_at,
                )
        except BaseException as error:
            if refreshing is not None:
                refreshing.refreshing = False  # the next request tries again
            if lookup is not None:
                lookup.set_exception(error if isinstance(error, Exception) else LookupFailed())
                lookup.exception()  # retrieved: waiters that are gone must not log it
            raise
        finally:
            if lookup is not None and self._lookups.get(fingerprint) is lookup:
                del self._lookups[fingerprint]
        if refreshing is not None and entry is None:
            refreshing.refreshing = False
        if lookup is not None:
            lookup.set_result(entry)
        return caller, entry

    def forget_user(self, user_id: uuid.UUID, *, changed_in: AsyncSession | None = None) -> None:
        """Drop every entry of a user (after a change to their role, e-mail or account).

        `changed_in`: the session whose transaction makes the change, when it has not committed
        yet; the entries are dropped again once it has.
        """
        self._forget(lambda entry: entry.user.id == user_id, changed_in)

    def forget_credential(
        self, credential_id: str, *, changed_in: AsyncSession | None = None
    ) -> None:
        """Drop the entries of one credential (revoked, or its account deleted)."""
        self._forget(lambda entry: entry.credential_id == credential_id, changed_in)

    def forget_all(self) -> None:
        """Drop every entry (a user deleted where their credentials are not known)."""
        self._forget(lambda entry: True, None)

    def _forget(
        self, matches: Callable[[CachedCaller], bool], changed_in: AsyncSession | None
    ) -> None:
        self._drop(matches)
        if changed_in is None:
            return
        pending = True

        def at_the_end(_session: object, transaction: SessionTransaction) -> None:
            # A lookup until then reads the old rows: what it brought back goes, and one still
            # running is not remembered (the generation changes). Only the outermost
            # transaction counts (a savepoint's end is not the commit), once.
            nonlocal pending
            if pending and transaction.parent is None:
                pending = False
                self._drop(matches)

        event.listen(changed_in.sync_session, "after_transaction_end", at_the_end)

    def _drop(self, matches: Callable[[CachedCaller], bool]) -> None:
        self._generation += 1
        for fingerprint in [key for key, entry in self._entries.items() if matches(entry)]:
            del self._entries[fingerprint]
