"""Tasks on users, through `UserService.for_system`."""

from datetime import datetime

from app.domains.users.schemas import UserStatistics
from app.domains.users.service import UserService
from app.workers.runtime import database_task, unit_of_work


@database_task
async def count_users(since: datetime) -> UserStatistics:
    """Users by role, and how many were created since `since`."""
    async with unit_of_work() as session:
        return await UserService.for_system(session).statistics(since=since)
