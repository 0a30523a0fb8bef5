"""Request context: a request id for every request, an access log line, and a last-resort 500.

Written as plain ASGI (no `BaseHTTPMiddleware`) so it adds almost nothing to each request.
The access log is this middleware's (uvicorn's is silenced, see app/infrastructure/logging.py):
one line per request with the request id, status and duration; successful health probes are
left out unless `ACCESS_LOG_HEALTH` is on, and `ACCESS_LOG=false` turns the whole log off.
"""

import logging
import os
import re
import time
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.exceptions import problem
from app.infrastructure.logging import request_id_var, user_id_var

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

logger = logging.getLogger("app.request")
access_logger = logging.getLogger("app.access")


def request_id_from(scope: Scope) -> str:
    """The caller's X-Request-ID when it is well formed, else a new one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _VALID_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return os.urandom(16).hex()


class RequestContextMiddleware:
    def __init__(
        self, app: ASGIApp, *, access_log: bool = True, quiet_paths: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.access_log = access_log
        # Logged only when they fail (probes would otherwise fill the log).
        self.quiet_paths = frozenset(quiet_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = request_id_from(scope)
        request_token = request_id_var.set(request_id)
        user_token = user_id_var.set(None)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            logger.exception("unhandled error while serving %s %s", scope["method"], scope["path"])
            if response_started:
                raise
            response = problem(
                Request(scope),
                500,
                code="internal_error",
                detail="an unexpected error occurred; quote the request id when reporting it",
            )
            await response(scope, receive, send_with_request_id)
        finally:
            if self.access_log and (status >= 400 or scope["path"] not in self.quiet_paths):
                access_logger.info(
                    "%s %s %s",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            user_id_var.reset(user_token)
            request_id_var.reset(request_token)
