"""What every task runs with: its own unit of work, a retry policy, a run-aware logger.

A task is one transaction: it opens `unit_of_work()`, calls services built with
`for_system(session)`, and returns plain data. It is retried only when the failure is an
infrastructure one (a dropped connection, a timeout, a locked database); a domain error means
the input or the data is wrong, and running again would not change the answer.
"""

import logging
from collections.abc import AsyncGenerator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from prefect import Task, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError
from prefect.states import State
from sqlalchemy.ext.asyncio import AsyncSession

from app.domains.base.exceptions import DomainError
from app.infrastructure.config import get_settings
from app.infrastructure.database import Database, is_unavailable

TASK_RETRIES = 3
TASK_RETRY_DELAYS: list[float] = [2, 10, 30]


def open_database() -> Database:
    """The database tasks work on, from the settings (tests replace this function)."""
    settings = get_settings()
    return Database.from_url(
        settings.database_url,
        echo=settings.database_echo,
        timeouts=settings.database_timeouts,
        pool_size=settings.database_pool_size,
    )


@asynccontextmanager
async def unit_of_work(*, write: bool = False) -> AsyncGenerator[AsyncSession]:
    """One transaction, committed when the block succeeds, on an engine the task owns.

    Prefect may run a task on another thread and event loop than its flow; an engine created
    and disposed inside the task never crosses loops.
    """
    database = open_database()
    try:
        async with database.unit_of_work(write=write) as session:
            yield session
    finally:
        await database.dispose()


def is_transient(error: BaseException) -> bool:
    """Whether running again may succeed: infrastructure failures yes, domain errors never."""
    if isinstance(error, DomainError):
        return False
    return is_unavailable(error)


def retry_on_transient_errors(_task: object, _run: object, state: State[Any]) -> bool:
    """Prefect's `retry_condition_fn`: retry a failed task run only on a transient error."""
    return isinstance(state.data, BaseException) and is_transient(state.data)


def database_task[**P, R](
    function: Callable[P, Coroutine[Any, Any, R]],
) -> Task[P, Coroutine[Any, Any, R]]:
    """Declare a task that works on the database: retried on transient errors, never cached."""
    return task(
        retries=TASK_RETRIES,
        retry_delay_seconds=TASK_RETRY_DELAYS,
        retry_condition_fn=retry_on_transient_errors,
        cache_policy=NO_CACHE,
    )(function)


def run_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The logger of the current flow or task run (its lines carry the run's id and reach the
    Prefect UI), or a plain logger when the function is called outside a run (tests)."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("app.workers")
