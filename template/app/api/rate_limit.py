"""Rate limits: per user on API-key creation, and an optional global limit per client.

Counters live in memory by default (one process) or in Redis when `RATE_LIMIT_STORAGE_URL`
says so (several processes or hosts share them). The limiter is created in the lifespan.
"""

import math
import time

from fastapi import Request
from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from app.api.exceptions import RateLimited


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

    async def hit(self, limit: RateLimitItem, *identifiers: str) -> None:
        """Count one hit, or raise `RateLimited` with the seconds until the next one is allowed."""
        if await self._limiter.hit(limit, *identifiers):
            return
        stats = await self._limiter.get_window_stats(limit, *identifiers)
        raise RateLimited(retry_after=max(1, math.ceil(stats.reset_time - time.time())))


def client_address(request: Request) -> str:
    # With TRUSTED_PROXIES set, the proxy-headers middleware has already put the real client here.
    return request.client.host if request.client else "unknown"


async def global_rate_limit(request: Request) -> None:
    """The per-client limit of `RATE_LIMIT_DEFAULT`, installed only when that setting is set."""
    limiter: RateLimiter = request.app.state.rate_limiter
    await limiter.hit(request.app.state.global_rate_limit, "client", client_address(request))
