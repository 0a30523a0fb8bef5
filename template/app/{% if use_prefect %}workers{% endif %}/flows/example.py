"""An example flow to copy: look a user up by e-mail, on demand.

    uv run prefect deployment run 'find-user/find-user' -p email=a@example.com

To add a flow of your own:

1. Write its tasks in `app/workers/tasks/<domain>.py`. Declare each with `@database_task`,
   open one `unit_of_work()` (`write=True` when it writes), call services built with
   `for_system(session)`, and return plain data (schemas, numbers), never ORM objects.
2. Write the flow in `app/workers/flows/<domain>.py`. Its typed parameters become the
   deployment's parameters (validated on every run); it calls tasks and logs through
   `run_logger()`.
3. List it in `app/workers/deployments.py`, with a cron schedule or none (on demand), and
   restart the worker: it registers the deployments it serves when it starts.
4. Test it in `tests/workers/`: call `flow.fn(...)` and `task.fn(...)` directly.
"""

from prefect import flow
from pydantic import EmailStr

from app.domains.users.schemas import UserRead
from app.workers.runtime import run_logger
from app.workers.tasks.example import find_user_by_email


@flow(name="find-user")
async def find_user(email: EmailStr) -> UserRead:
    """Find the user with this e-mail address and log their role and when they joined."""
    user = await find_user_by_email(email.lower())
    # The id, not the address: run logs also reach the Prefect UI, outside the service's redaction.
    run_logger().info("user %s: role %s, joined on %s", user.id, user.role, user.created_at.date())
    return user
