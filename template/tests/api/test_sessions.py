"""The request's session: a unit of work for the methods that write, a reading session for
those that change nothing (`app/api/dependencies.py`)."""

import pytest
from fastapi import FastAPI, Request

from app.api.dependencies import get_session
from app.infrastructure.database import ReadingSession


@pytest.mark.parametrize(
    ("method", "reading"),
    [
        ("GET", True),
        ("HEAD", True),
        ("OPTIONS", True),
        ("POST", False),
        ("PUT", False),
        ("PATCH", False),
        ("DELETE", False),
    ],
)
async def test_only_methods_that_change_nothing_read_outside_a_unit_of_work(
    app: FastAPI, method: str, reading: bool
) -> None:
    request = Request({"type": "http", "method": method, "app": app, "headers": []})
    sessions = get_session(request)
    session = await anext(sessions)
    assert isinstance(session.sync_session, ReadingSession) is reading
    await sessions.aclose()
