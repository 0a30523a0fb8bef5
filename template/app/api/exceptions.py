"""One error shape for the whole API: RFC 9457 problem details (`application/problem+json`).

`ERROR_STATUS` is the single table from error classes to HTTP status codes. The exception
handlers use it to answer, and `problem_responses` uses it to declare each route's error
responses in the OpenAPI document, so the two cannot disagree.
"""

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import exc as sqlalchemy_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.domains.base.exceptions import (
    AuthenticationFailed,
    Conflict,
    DomainError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from app.infrastructure.database import UNAVAILABLE_ERRORS, is_unavailable
from app.infrastructure.logging import request_id_var

PROBLEM_JSON = "application/problem+json"
# A validation problem lists this many errors at most (and says how many there were), so a
# large body of bad fields cannot buy a response larger than itself.
MAX_LISTED_ERRORS = 20
# Seconds a client waits before trying again when the database is unavailable.
UNAVAILABLE_RETRY_AFTER = 5
logger = logging.getLogger(__name__)


class NotAuthenticated(Exception):
    """No usable credential: answered 401 with the accepted schemes in `WWW-Authenticate`."""

    code = "not_authenticated"

    def __init__(self, message: str = "authentication required") -> None:
        super().__init__(message)
        self.message = message


class DependencyUnavailable(Exception):
    """A service the request needs, other than the database, does not answer for now: answered
    503 with Retry-After, under `code`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BodyTooLarge(StarletteHTTPException):
    """A request body over `MAX_REQUEST_BODY_BYTES`: answered 413, the rest left unread.

    An HTTP exception, so that the framework's body parsing lets it through unchanged.
    """

    code = "body_too_large"

    def __init__(self, limit: int) -> None:
        self.message = f"the request body is larger than {limit} bytes"
        super().__init__(413, self.message)


class BodyStalled(StarletteHTTPException):
    """A request body that stopped arriving: answered 408, and the request ends there."""

    code = "body_stalled"

    def __init__(self, seconds: float) -> None:
        self.message = f"the request body stopped arriving for {seconds:g} s"
        super().__init__(408, self.message)


class RateLimited(Exception):
    """Too many requests: answered 429 with `Retry-After`."""

    code = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many requests, retry later")
        self.message = f"too many requests; retry in {retry_after} s"
        self.retry_after = retry_after


ERROR_STATUS: Mapping[type, int] = {
    ValidationFailed: 422,
    NotFound: 404,
    PermissionDenied: 403,
    Conflict: 409,
    AuthenticationFailed: 401,
    NotAuthenticated: 401,
    BodyTooLarge: 413,
    BodyStalled: 408,
    RateLimited: 429,
}


class ProblemFieldError(BaseModel):
    loc: list[str | int] = Field(description="Where the error is: body, query, path, ...")
    message: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    code: str = Field(description="A stable, machine-readable error code.")
    request_id: str | None = None
    errors: list[ProblemFieldError] | None = None


def status_for(error_class: type[Exception]) -> int:
    for klass in error_class.__mro__:
        if klass in ERROR_STATUS:
            return ERROR_STATUS[klass]
    return 500


def problem_responses(
    *error_classes: type[Exception], body: bool = False
) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that can fail with `error_classes` (and bad input, and an
    unavailable database).

    `body=True` for routes that read a request body: one that cannot be decoded is a 400, one
    that is too large a 413.
    """
    statuses = {status_for(klass) for klass in (*error_classes, ValidationFailed)} | {503}
    if body:
        statuses |= {400, status_for(BodyTooLarge)}
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {}},
        }
        for status in sorted(statuses)
    }


# The header of the 429s and 503s, as the OpenAPI document describes it.
RETRY_AFTER_HEADER = {
    "description": "Seconds to wait before trying again.",
    "schema": {"type": "integer", "minimum": 1},
}


def document_problems(app: FastAPI) -> None:
    """Describe the error responses in the app's OpenAPI document as they are sent: FastAPI
    files a response model under `application/json`, where a problem is
    `application/problem+json`; and a 429 or a 503 carries `Retry-After`."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _as_problems(build())
        return app.openapi_schema

    app.openapi = openapi


def _as_problems(document: dict[str, Any]) -> dict[str, Any]:
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if not str(status).isdigit() or int(status) < 400:
                    continue
                content = response.get("content", {})
                if "application/json" in content:
                    content[PROBLEM_JSON] = content.pop("application/json")
                if int(status) in (429, 503):
                    response.setdefault("headers", {})["Retry-After"] = RETRY_AFTER_HEADER
    return document


def problem(
    request: Request,
    status: int,
    *,
    code: str,
    detail: str | None = None,
    errors: Sequence[ProblemFieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path,
        code=code,
        request_id=request_id_var.get(),
        errors=list(errors) if errors is not None else None,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=dict(headers or {}),
    )


def authentication_challenges(request: Request) -> str:
    """The `WWW-Authenticate` value naming the schemes this service accepts."""
    return request.app.state.authentication_challenges


async def _domain_error(
    request: Request,
    error: DomainError | NotAuthenticated | RateLimited | BodyTooLarge | BodyStalled,
) -> JSONResponse:
    status = status_for(type(error))
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = authentication_challenges(request)
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    errors = None
    if isinstance(error, ValidationFailed) and error.errors:
        errors = [
            ProblemFieldError(loc=[e.field], message=e.message, type=error.code)
            for e in error.errors
        ]
    return problem(
        request, status, code=error.code, detail=error.message, errors=errors, headers=headers
    )


async def _request_validation_error(
    request: Request, error: RequestValidationError
) -> JSONResponse:
    # The offending input is left out on purpose: it may hold a secret.
    found = error.errors()
    errors = [
        ProblemFieldError(loc=list(item["loc"]), message=item["msg"], type=item["type"])
        for item in found[:MAX_LISTED_ERRORS]
    ]
    detail = "the request is not valid"
    if len(found) > MAX_LISTED_ERRORS:
        detail += f" ({len(found)} errors; the first {MAX_LISTED_ERRORS} are listed)"
    return problem(request, 422, code="validation_failed", detail=detail, errors=errors)


async def _database_unavailable(request: Request, error: Exception) -> JSONResponse:
    logger.warning(
        "the database is unavailable (%s) while serving %s %s",
        type(error).__name__,
        request.method,
        request.url.path,
    )
    return retry_later(request, "database_unavailable", "the database is not available")


def retry_later(request: Request, code: str, detail: str) -> JSONResponse:
    """A 503 problem with `Retry-After`."""
    headers = {"Retry-After": str(UNAVAILABLE_RETRY_AFTER)}
    return problem(request, 503, code=code, detail=f"{detail}; retry later", headers=headers)


# What a statement meets in a database that lacks this version's migrations: PostgreSQL's
# SQLSTATEs for an undefined table and column, and SQLite's messages.
NOT_MIGRATED_STATES = frozenset({"42P01", "42703"})
NOT_MIGRATED_MESSAGES = ("no such table", "no such column")


def _not_migrated(error: sqlalchemy_exc.DBAPIError) -> bool:
    if getattr(error.orig, "sqlstate", None) in NOT_MIGRATED_STATES:
        return True
    return str(error.orig).startswith(NOT_MIGRATED_MESSAGES)


async def _database_error(request: Request, error: Exception) -> JSONResponse:
    """A statement the database could not run: 503 while its schema is behind this version's
    (a deploy migrates first; see /health/ready) or while the database is unavailable, and
    anything else of its own a 500."""
    if isinstance(error, sqlalchemy_exc.DBAPIError) and _not_migrated(error):
        logger.warning(
            "the database lacks this version's migrations (%s) while serving %s %s",
            error.orig,
            request.method,
            request.url.path,
        )
        detail = "the database is not migrated to this version yet"
        return retry_later(request, "database_not_migrated", detail)
    if is_unavailable(error):
        return await _database_unavailable(request, error)
    raise error


async def _dependency_unavailable(request: Request, error: DependencyUnavailable) -> JSONResponse:
    return retry_later(request, error.code, error.message)


async def _database_refused_value(request: Request, error: Exception) -> JSONResponse:
    # Input validation keeps such values out; this is the net under it.
    return problem(
        request, 422, code="invalid_value", detail="a value is out of what the database stores"
    )


def allowed_methods(request: Request) -> list[str]:
    """Every method the API serves at this path, from its OpenAPI document.

    The framework's own 405 names only the first route that matched the path.
    """
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            methods |= {method.upper() for method in operations}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    detail = error.detail if isinstance(error.detail, str) else HTTPStatus(error.status_code).phrase
    code = HTTPStatus(error.status_code).phrase.lower().replace(" ", "_")
    headers = dict(error.headers or {})
    if error.status_code == 405 and (methods := allowed_methods(request)):
        headers["Allow"] = ", ".join(methods)
    return problem(request, error.status_code, code=code, detail=detail, headers=headers)


def install_exception_handlers(app: FastAPI) -> None:
    # Starlette dispatches on the class, so each handler only ever sees the type it declares.
    handlers: list[tuple[type[Exception], Callable[..., Awaitable[Response]]]] = [
        (DomainError, _domain_error),
        (NotAuthenticated, _domain_error),
        (RateLimited, _domain_error),
        (DependencyUnavailable, _dependency_unavailable),
        (BodyTooLarge, _domain_error),
        (BodyStalled, _domain_error),
        (RequestValidationError, _request_validation_error),
        (StarletteHTTPException, _http_error),
        (sqlalchemy_exc.DataError, _database_refused_value),
        (sqlalchemy_exc.ProgrammingError, _database_error),
        (sqlalchemy_exc.DBAPIError, _database_error),
        *((error_class, _database_error) for error_class in UNAVAILABLE_ERRORS),
    ]
    for error_class, handler in handlers:
        app.add_exception_handler(error_class, handler)
