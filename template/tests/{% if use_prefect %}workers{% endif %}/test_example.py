"""The example flow: find a user by e-mail; an unknown address is a domain error."""

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.domains.base.exceptions import NotFound
from app.domains.users.models import User
from app.infrastructure.database import Database
from app.workers.flows.example import find_user
from app.workers.tasks.example import find_user_by_email


async def test_the_task_returns_the_user_as_plain_data(
    alice: User, worker_database: Database
) -> None:
    found = await find_user_by_email.fn(alice.email)
    assert (found.id, found.email, found.role) == (alice.id, alice.email, alice.role)


async def test_an_unknown_address_is_not_found(worker_database: Database) -> None:
    # The message reaches the Prefect UI, unredacted: it does not repeat the address.
    with pytest.raises(NotFound, match=r"^no user has this e-mail address$"):
        await find_user_by_email.fn("nobody@example.com")


@pytest.mark.usefixtures("plain_tasks")
async def test_the_flow_ignores_case_and_logs_the_user(
    session: AsyncSession, alice: User, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="app.workers"):
        found = await find_user.fn(alice.email.upper())
    assert found.id == alice.id
    assert f"user {alice.id}: role standard, joined on " in caplog.text
    assert alice.email not in caplog.text
