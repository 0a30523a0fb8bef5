"""Logs: request ids from the request to the response and the log line, and no secrets in them."""

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import Generator
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from app.api.main import HEALTH_PATHS, create_app
from app.api.middleware import RequestContextMiddleware
from app.domains.users.models import User
from app.infrastructure.config import Settings
from app.infrastructure.logging import (
    ACCESS_LOGGER,
    REDACTED,
    AccessLog,
    JsonFormatter,
    _AppHandler,
    configure_logging,
    redact,
    request_id_var,
    user_id_var,
)
from tests.conftest import AuthHeaders


@contextlib.contextmanager
def configured(**options: Any) -> Generator[io.StringIO]:
    """The service's logging, set up with `options`, writing into the stream yielded while the
    block runs; the default set-up again after it."""
    stream = io.StringIO()
    configure_logging(stream=stream, **options)
    try:
        yield stream
    finally:
        configure_logging()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_the_request_id_reaches_the_response_and_the_json_log_line(
    json_log: io.StringIO, client: httpx.AsyncClient, alice: User, auth_headers: AuthHeaders
) -> None:
    headers = {**await auth_headers(alice), "X-Request-ID": "checkout-7f3a.1"}
    response = await client.get("/api/v1/me", headers=headers)

    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "checkout-7f3a.1"
    access = [line for line in lines(json_log) if line["logger"] == "app.access"]
    assert len(access) == 1
    assert access[0]["request_id"] == "checkout-7f3a.1"
    assert access[0]["user_id"] == str(alice.id)
    assert access[0]["status"] == 200
    assert access[0]["message"] == "GET /api/v1/me 200"
    assert {"timestamp", "level", "duration_ms"} <= access[0].keys()


async def test_a_generated_request_id_is_the_one_logged(
    json_log: io.StringIO, client: httpx.AsyncClient
) -> None:
    response = await client.get("/api/v1/me")

    assert response.status_code == 401
    logged = {line.get("request_id") for line in lines(json_log) if line["logger"] == "app.access"}
    assert logged == {response.headers["X-Request-ID"]}


async def test_the_logs_of_a_session_hold_no_secret_and_no_email(
    json_log: io.StringIO,
    client: httpx.AsyncClient,
    admin: User,
    alice: User,
    auth_headers: AuthHeaders,
) -> None:
    credentials = await auth_headers(alice)
    assert (await client.get("/api/v1/me", headers=credentials)).status_code == 200
    new_user = await client.post(
        "/api/v1/users",
        json={"email": "carol.secret@example.org"},
        headers=await auth_headers(admin),
    )
    assert new_user.status_code == 201

    logged = json_log.getvalue()
    # SQL was logged (with its parameters), so an e-mail did reach the logger and was redacted.
    assert "c***@example.org" in logged
    secrets = [
        *credentials.values(),
        "carol.secret@example.org",
        alice.email,
        admin.email,
    ]
    assert [secret for secret in secrets if secret in logged] == []


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("postgresql://app:hunter2@db:5432/app", "postgresql://[redacted]@db:5432/app"),
        ("redis://:hunter2@cache:6379/0", "redis://[redacted]@cache:6379/0"),
        ("('jane.doe@example.com', 'Jane')", "('j***@example.com', 'Jane')"),
        ("GET /api/v1/me 200", "GET /api/v1/me 200"),
    ],
)
def test_redact(text: str, kept: str) -> None:
    assert redact(text) == kept


def test_fields_named_like_secrets_are_redacted_whole() -> None:
    with configured(json_format=True) as stream:
        logging.getLogger("app.test").info("signed in", extra={"password": "x", "session_token": 1})
    line = json.loads(stream.getvalue())
    assert (line["password"], line["session_token"]) == (REDACTED, REDACTED)


def test_log_level_applies_to_uvicorn_s_own_lines() -> None:
    """Uvicorn sets its loggers to INFO before the application configures logging."""
    logging.getLogger("uvicorn.error").setLevel(logging.INFO)
    with configured(level="WARNING") as stream:
        logging.getLogger("uvicorn.error").info("Application startup complete.")
        logging.getLogger("uvicorn.error").warning("Invalid HTTP request received.")
    assert "Application startup complete." not in stream.getvalue()
    assert "Invalid HTTP request received." in stream.getvalue()


def test_uvicorn_s_coloured_copy_of_its_message_is_left_out_of_json_lines() -> None:
    record = logging.makeLogRecord(
        {
            "name": "uvicorn.error",
            "levelname": "INFO",
            "msg": "Started server process [%d]",
            "args": (7,),
            "color_message": "Started server process [\x1b[36m%d\x1b[0m]",
        }
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "Started server process [7]"
    assert "color_message" not in line


def test_uvicorn_access_lines_are_not_repeated() -> None:
    """The request middleware writes the access log; uvicorn's own would double every line."""
    with configured() as stream:
        logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET / HTTP/1.1" 200')
        logging.getLogger("uvicorn.error").warning("Invalid HTTP request received.")
    assert "GET / HTTP/1.1" not in stream.getvalue()
    assert "Invalid HTTP request received." in stream.getvalue()


async def test_successful_health_probes_are_left_out_of_the_access_log(
    json_log: io.StringIO, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/api/v1/health/live")).status_code == 200
    assert (await client.get("/api/v1/me")).status_code == 401

    messages = [line["message"] for line in lines(json_log) if line["logger"] == "app.access"]
    assert messages == ["GET /api/v1/me 401"]


async def test_a_failing_probe_is_logged_and_access_log_health_logs_them_all() -> None:
    async def probe(scope: Scope, receive: Receive, send: Send) -> None:
        status = 503 if scope["path"].endswith("/ready") else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with configured(json_format=True) as stream:
        for quiet_paths in (HEALTH_PATHS, ()):
            middleware = RequestContextMiddleware(probe, quiet_paths=quiet_paths)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=middleware), base_url="http://testserver"
            ) as client:
                await client.get("/api/v1/health/live")
                await client.get("/api/v1/health/ready")

    messages = [line["message"] for line in lines(stream) if line["logger"] == "app.access"]
    assert messages == [
        "GET /api/v1/health/ready 503",
        "GET /api/v1/health/live 200",
        "GET /api/v1/health/ready 503",
    ]


@pytest.mark.parametrize(("log_health", "quiet"), [(False, HEALTH_PATHS), (True, ())])
def test_access_log_health_setting(settings: Settings, log_health: bool, quiet: object) -> None:
    app = create_app(settings.model_copy(update={"access_log_health": log_health}))
    [context] = [m for m in app.user_middleware if m.cls is RequestContextMiddleware]
    assert context.kwargs["quiet_paths"] == quiet


def test_an_access_line_built_directly_is_the_line_logging_writes() -> None:
    request_token = request_id_var.set("req-1")
    user_token = user_id_var.set("user-1")
    try:
        with configured(json_format=True) as stream:
            AccessLog()("GET", "/api/v1/users/bob@example.com", 404, 1.25)
            logging.getLogger(ACCESS_LOGGER).info(
                "%s %s %s",
                "GET",
                "/api/v1/users/bob@example.com",
                404,
                extra={"status": 404, "duration_ms": 1.25},
            )
    finally:
        user_id_var.reset(user_token)
        request_id_var.reset(request_token)
    direct, through_logging = (
        {key: value for key, value in line.items() if key != "timestamp"} for line in lines(stream)
    )
    assert direct == through_logging
    assert list(direct) == list(through_logging)
    assert direct["message"] == "GET /api/v1/users/b***@example.com 404"


def test_access_lines_reach_any_other_handler_through_logging(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with configured(json_format=True), caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        AccessLog()("POST", "/api/v1/users", 201, 3.5)
    [record] = [record for record in caplog.records if record.name == ACCESS_LOGGER]
    assert record.getMessage() == "POST /api/v1/users 201"
    assert (record.__dict__["status"], record.__dict__["duration_ms"]) == (201, 3.5)


def test_a_text_access_line_has_the_status_and_the_duration() -> None:
    token = request_id_var.set("req-1")
    try:
        with configured(json_format=False) as stream:
            AccessLog()("GET", "/api/v1/users", 200, 2.5)
    finally:
        request_id_var.reset(token)
    assert stream.getvalue().endswith(
        " INFO    app.access: GET /api/v1/users 200 [request_id=req-1 duration_ms=2.5]\n"
    )


def test_a_text_line_escapes_the_control_characters_a_path_carries() -> None:
    forged = "/api/v1/me\n2026-12-01 00:00:00,000 INFO    app.access: GET /admin 200"
    forged += "\x1b[2J\r\u2028\x85"
    with configured(json_format=False) as stream:
        AccessLog()("GET", forged, 404, 1.0)
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("app").exception("failed while serving %s", forged)
    written = stream.getvalue().splitlines()
    assert written[0].endswith(
        " app.access: GET /api/v1/me\\n2026-12-01 00:00:00,000 INFO    app.access: GET /admin"
        " 200\\x1b[2J\\r\\u2028\\x85 404 [duration_ms=1.0]"
    )
    assert "failed while serving /api/v1/me\\n2026" in written[1]
    assert written[2] == "Traceback (most recent call last):"  # the traceback keeps its lines
    assert written[-1] == "ValueError: boom"


async def test_batched_access_lines_are_written_at_the_end_of_the_loop_turn_in_order() -> None:
    stream = io.StringIO()
    handler = _AppHandler(stream, batch=True)
    handler.setFormatter(JsonFormatter())
    handler.write_line("first")
    handler.write_line("second")
    assert stream.getvalue() == ""
    handler.emit(logging.makeLogRecord({"name": "app", "msg": "an error", "levelname": "ERROR"}))
    first, second, error = stream.getvalue().splitlines()
    assert (first, second, json.loads(error)["message"]) == ("first", "second", "an error")

    handler.write_line("third")
    await asyncio.sleep(0)
    assert stream.getvalue().splitlines()[-1] == "third"
    handler.write_line("fourth")
    handler.flush()  # what logging.shutdown does
    assert stream.getvalue().splitlines()[-1] == "fourth"


def test_without_an_event_loop_an_access_line_is_written_at_once() -> None:
    stream = io.StringIO()
    handler = _AppHandler(stream, batch=True)
    handler.write_line("now")
    assert stream.getvalue() == "now\n"


def test_an_output_that_fails_is_reported_and_never_fails_the_caller(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class BrokenPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError("the log collector went away")

    handler = _AppHandler(BrokenPipe())
    handler.write_line("an access line")
    handler.emit(logging.makeLogRecord({"name": "app", "msg": "a warning"}))
    reported = capsys.readouterr().err
    assert reported.count("BrokenPipeError: the log collector went away") == 2
