"""Request context: a request id for every request, an access log line, a last-resort 500 and
the security headers of every response; and the request limits (body and header sizes).

Written as plain ASGI (no `BaseHTTPMiddleware`) so they add almost nothing to each request.
The access log is this middleware's (uvicorn's is silenced, see app/infrastructure/logging.py):
one line per request with the request id, status and duration; successful health probes are
left out unless `ACCESS_LOG_HEALTH` is on, and `ACCESS_LOG=false` turns the whole log off.
"""

import asyncio
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.exceptions import BodyStalled, BodyTooLarge, problem
from app.infrastructure.logging import AccessLog, request_id_var, user_id_var

REQUEST_ID_HEADER = b"x-request-id"
# A request body that stops arriving for this long is answered 408, so a client that goes
# quiet mid-body does not keep its request open. (The request line and headers are read by the
# server before the application sees them: the proxy in front bounds those.)
BODY_STALL_SECONDS = 30.0
# A JSON API's security headers: no MIME sniffing, no referrer, never framed, and a policy
# that loads nothing (the docs pages, which load Swagger UI, go without the policy).
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
CONTENT_SECURITY_POLICY = (
    b"content-security-policy",
    b"default-src 'none'; frame-ancestors 'none'",
)
DOCS_PATHS = ("/docs", "/redoc")
# A query string's bounds: every list route's parameters, at their longest, fit well inside
# them. Past them the query is refused unread: parsing thousands of distinct parameter names
# takes time that grows with their square (a 64 KB query held the event loop 14 s).
MAX_QUERY_BYTES = 4096
MAX_QUERY_PARAMETERS = 32
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

logger = logging.getLogger("app.request")
log_access = AccessLog()


# Where a request's after-response work waits (see `after_response`): a list the middleware puts
# in the scope, which a copy of the scope further in still holds.
AFTER_RESPONSE = "app.after_response"


def after_response(request: Request, work: Callable[[], Awaitable[None]]) -> None:
    """Run `work` once the response has been sent, whatever it was: unlike a FastAPI background
    task, which an error response drops. `work` handles its own errors (they are logged)."""
    request.scope[AFTER_RESPONSE].append(work)


def request_id_from(scope: Scope) -> str:
    """The caller's X-Request-ID when it is well formed, else a new one."""
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            candidate = value.decode("latin-1")
            if _VALID_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    # An identifier, not a secret: the process's PRNG is enough, and cheaper than os.urandom.
    return f"{random.getrandbits(128):032x}"


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        access_log: bool = True,
        quiet_paths: Iterable[str] = (),
        hsts_seconds: int = 0,
    ) -> None:
        self.app = app
        self.access_log = access_log
        # Logged only when they fail (probes would otherwise fill the log).
        self.quiet_paths = frozenset(quiet_paths)
        headers = list(SECURITY_HEADERS)
        if hsts_seconds:
            headers.append((b"strict-transport-security", f"max-age={hsts_seconds}".encode()))
        self.docs_headers: tuple[tuple[bytes, bytes], ...] = tuple(headers)
        self.headers: tuple[tuple[bytes, bytes], ...] = (*headers, CONTENT_SECURITY_POLICY)

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
        method = scope["method"]
        if method == "HEAD":  # the GET route answers it, its body left out (RFC 9110, 9.3.2)
            scope = {**scope, "method": "GET"}

        headers = self.docs_headers if scope["path"].startswith(DOCS_PATHS) else self.headers
        later: list[Callable[[], Awaitable[None]]] = []
        scope[AFTER_RESPONSE] = later

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (REQUEST_ID_HEADER, request_id.encode("latin-1")),
                    *headers,
                ]
            elif method == "HEAD" and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            logger.exception("unhandled error while serving %s %s", method, scope["path"])
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
                duration_ms = round((time.perf_counter() - started) * 1000, 2)
                log_access(method, scope["path"], status, duration_ms)
            for work in later:
                try:
                    await work()
                except Exception:
                    logger.exception("after-response work failed for %s %s", method, scope["path"])
            user_id_var.reset(user_token)
            request_id_var.reset(request_token)


class RequestLimitsMiddleware:
    """Refuse what would cost before it is read: headers over `max_header_bytes` (431), a query
    string over MAX_QUERY_BYTES or MAX_QUERY_PARAMETERS (414), and a body over
    `max_body_bytes` (413): at once when its Content-Length says so, else as soon as the bytes
    read pass the limit (chunked bodies), the rest left unread; and a body that stops arriving
    for `body_stall_seconds` (408)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_header_bytes: int,
        body_stall_seconds: float = BODY_STALL_SECONDS,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_header_bytes = max_header_bytes
        self.body_stall_seconds = body_stall_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        if sum(len(name) + len(value) for name, value in headers) > self.max_header_bytes:
            detail = f"the request headers are larger than {self.max_header_bytes} bytes"
            response = problem(Request(scope), 431, code="headers_too_large", detail=detail)
            await response(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if len(query) > MAX_QUERY_BYTES or query.count(b"&") >= MAX_QUERY_PARAMETERS:
            detail = (
                f"the query string is longer than {MAX_QUERY_BYTES} bytes or has more than"
                f" {MAX_QUERY_PARAMETERS} parameters"
            )
            response = problem(Request(scope), 414, code="query_too_large", detail=detail)
            await response(scope, receive, send)
            return
        declared = next((value for name, value in headers if name == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            error = BodyTooLarge(self.max_body_bytes)
            response = problem(Request(scope), 413, code=error.code, detail=error.message)
            await response(scope, receive, send)
            return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        read = 0
        complete = False

        async def counted() -> Message:
            nonlocal read, complete
            if complete:  # what follows the body (a disconnect) may take any time
                return await receive()
            try:
                async with asyncio.timeout(self.body_stall_seconds):
                    message = await receive()
            except TimeoutError:
                raise BodyStalled(self.body_stall_seconds) from None
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
                complete = not message.get("more_body", False)
            return message

        return counted
