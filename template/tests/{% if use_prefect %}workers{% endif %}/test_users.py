"""The users report: counts by role and recent arrivals, through the system service."""

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.domains.base.authorization import Role
from app.domains.base.models import utc_now
from app.domains.users.factory import UserFactory
from app.infrastructure.database import Database
from app.workers.flows.users import users_report
from app.workers.tasks.users import count_users


async def make_users(session: AsyncSession) -> None:
    await UserFactory.create(session, role=Role.ADMIN)
    await UserFactory.create_batch(session, 2)
    await UserFactory.create(session, created_at=utc_now() - timedelta(days=30))


async def test_count_users_counts_roles_and_recent_arrivals(
    session: AsyncSession, worker_database: Database
) -> None:
    await make_users(session)
    statistics = await count_users.fn(utc_now() - timedelta(days=7))
    assert (statistics.total, statistics.admins, statistics.standard) == (4, 1, 3)
    assert statistics.joined_since == 3


async def test_count_users_on_an_empty_database(worker_database: Database) -> None:
    statistics = await count_users.fn(utc_now() - timedelta(days=7))
    assert (statistics.total, statistics.admins, statistics.standard) == (0, 0, 0)


@pytest.mark.usefixtures("plain_tasks")
async def test_the_report_logs_the_figures(
    session: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    await make_users(session)
    with caplog.at_level("INFO", logger="app.workers"):
        statistics = await users_report.fn(days=7)
    assert statistics.total == 4
    assert "4 users (1 admins, 3 standard); 3 joined in the last 7 days" in caplog.text
