"""The task of the example flow (see `app/workers/flows/example.py`)."""

from app.domains.base.exceptions import NotFound
from app.domains.users.schemas import UserRead
from app.domains.users.service import UserService
from app.workers.runtime import database_task, unit_of_work


@database_task
async def find_user_by_email(email: str) -> UserRead:
    """The user with this e-mail; `NotFound` (not retried) when there is none."""
    async with unit_of_work() as session:
        user = await UserService.for_system(session).get_by_email(email)
        if user is None:
            # Not the address: a failed run's message reaches the Prefect UI, outside the
            # service's redaction (the run's parameters name it already).
            raise NotFound("no user has this e-mail address")
        # Return plain data: ORM objects do not outlive their session.
        return UserRead.model_validate(user)
