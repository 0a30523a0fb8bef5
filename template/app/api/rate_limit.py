"""Rate limits: per user on the operations that create credentials, and an optional global
limit per client.

Counters live in memory by default (one process) or in Redis when `RATE_LIMIT_STORAGE_URL`
says so (several processes or hosts share them). The limiter is created in the lifespan.

The limits fail open: when the store does not answer within `STORE_TIMEOUT_SECONDS` (Redis
down or unreachable), the request goes through and a warning is logged, at most once every
`OUTAGE_LOG_INTERVAL_SECONDS`. A rate-limit outage must not become an outage of the service;
what limits the damage meanwhile stays in place (per-user caps on what users create).
The health probes are never limited (app/api/main.py serves them outside the limit).
"""

import asyncio
import logging
import math
import time

from fastapi import Request
from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from app.api.exceptions import RateLimited

STORE_TIMEOUT_SECONDS = 0.5
OUTAGE_LOG_INTERVAL_SECONDS = 60.0

logger = logging.getLogger(__name__)


def parse_limit(value: str, setting: str) -> RateLimitItem:
    """`"10/minute"` as a limit; a malformed value names the setting at fault."""
    try:
        return parse(value)
    except ValueError as error:
        raise ValueError(f"{setting} is not a rate limit like '10/minute': {value!r}") from error


class RateLimiter:
    def __init__(self, storage_url: str) -> None:
        scheme = storage_url.split("://", 1)[0]
        if scheme not in {"memory", "redis", "rediss", "redis+sentinel", "redis+cluster"}:
            raise ValueError(
                f"RATE_LIMIT_STORAGE_URL must be memory:// or a redis:// URL, got {scheme}://"
            )
        storage = storage_from_string(f"async+{storage_url}")
        if not isinstance(storage, Storage):  # a sync storage: the URL lacked async support
            raise TypeError(f"no async rate-limit storage for {scheme}://")
        self._limiter = MovingWindowRateLimiter(storage)
        self._outage_logged_at: float | None = None

    async def hit(self, limit: RateLimitItem, *identifiers: str) -> None:
        """Count one hit, or raise `RateLimited` with the seconds until the next one is allowed.

        When the store fails or does not answer in time, the hit is let through (see above).
        """
        try:
            async with asyncio.timeout(STORE_TIMEOUT_SECONDS):
                if await self._limiter.hit(limit, *identifiers):
                    return
                stats = await self._limiter.get_window_stats(limit, *identifiers)
        except Exception as error:  # any failure of the store: fail open
            self._report_outage(error)
            return
        raise RateLimited(retry_after=max(1, math.ceil(stats.reset_time - time.time())))

    def _report_outage(self, error: Exception) -> None:
        now = time.monotonic()
        if self._outage_logged_at is None or now - self._outage_logged_at >= (
            OUTAGE_LOG_INTERVAL_SECONDS
        ):
            self._outage_logged_at = now
            logger.warning(
                "the rate-limit store is unavailable (%s); requests are not limited until it "
                "answers again",
                type(error).__name__,
            )


def client_address(request: Request) -> str:
    # With TRUSTED_PROXIES set, the proxy-headers middleware has already put the real client here.
    return request.client.host if request.client else "unknown"


async def global_rate_limit(request: Request) -> None:
    """The per-client limit of `RATE_LIMIT_DEFAULT`, installed only when that setting is set."""
    limiter: RateLimiter = request.app.state.rate_limiter
    await limiter.hit(request.app.state.global_rate_limit, "client", client_address(request))
