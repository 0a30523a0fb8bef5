"""Flows about users."""

from datetime import timedelta
from typing import Annotated

from prefect import flow
from pydantic import Field

from app.domains.base.models import utc_now
from app.domains.users.schemas import UserStatistics
from app.workers.runtime import run_logger
from app.workers.tasks.users import count_users


@flow(name="users-report")
async def users_report(days: Annotated[int, Field(ge=1, le=3660)] = 7) -> UserStatistics:
    """Count users by role and those who joined in the last `days` days, and log the figures."""
    statistics = await count_users(utc_now() - timedelta(days=days))
    run_logger().info(
        "%d users (%d admins, %d standard); %d joined in the last %d days",
        statistics.total,
        statistics.admins,
        statistics.standard,
        statistics.joined_since,
        days,
    )
    return statistics
