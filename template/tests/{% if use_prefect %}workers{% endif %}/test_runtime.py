"""The task runtime: retries on infrastructure errors only, one transaction per task."""

import importlib
import logging
import pkgutil

import pytest
from prefect import Task
from prefect.states import Completed, Failed
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession

import app.workers.tasks
from app.domains.base.exceptions import Conflict, NotFound, ValidationFailed
from app.domains.users.factory import UserFactory
from app.domains.users.models import User
from app.infrastructure.database import Database
from app.workers.runtime import (
    TASK_RETRIES,
    is_transient,
    retry_on_transient_errors,
    run_logger,
    unit_of_work,
)


class DriverError(Exception):
    """What a driver raises, with the SQLSTATE the server sent."""

    def __init__(self, message: str, sqlstate: str = "XX000") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def database_error[E: DBAPIError](
    kind: type[E], *, invalidated: bool = False, sqlstate: str = "XX000"
) -> E:
    orig = DriverError("server closed the connection", sqlstate)
    return kind("SELECT 1", {}, orig, connection_invalidated=invalidated)


TRANSIENT = [
    database_error(OperationalError),
    database_error(InterfaceError),
    database_error(DBAPIError, invalidated=True),
    database_error(DBAPIError, sqlstate="53300"),  # too many connections
    database_error(DBAPIError, sqlstate="57P03"),  # the server is starting up
    database_error(DBAPIError, sqlstate="08006"),  # the connection failed
    PoolTimeout("QueuePool limit reached"),
    TimeoutError("timed out"),
    ConnectionRefusedError("connection refused"),
]
PERMANENT = [
    NotFound("no such user"),
    Conflict("duplicate"),
    ValidationFailed("bad input"),
    database_error(IntegrityError),
    database_error(DBAPIError),
    ValueError("bug"),
]


@pytest.mark.parametrize("error", TRANSIENT, ids=repr)
def test_infrastructure_errors_are_retried(error: Exception) -> None:
    assert is_transient(error)
    assert retry_on_transient_errors(None, None, Failed(data=error))


@pytest.mark.parametrize("error", PERMANENT, ids=repr)
def test_domain_errors_and_bugs_are_not_retried(error: Exception) -> None:
    assert not is_transient(error)
    assert not retry_on_transient_errors(None, None, Failed(data=error))


def test_a_state_without_an_exception_is_not_retried() -> None:
    assert not retry_on_transient_errors(None, None, Completed(data=1))


def all_tasks() -> list[Task]:
    found = []
    for info in pkgutil.iter_modules(app.workers.tasks.__path__):
        module = importlib.import_module(f"app.workers.tasks.{info.name}")
        found += [value for value in vars(module).values() if isinstance(value, Task)]
    return found


def test_every_task_retries_on_infrastructure_errors_only() -> None:
    tasks = all_tasks()
    assert tasks
    for task in tasks:
        assert task.retries == TASK_RETRIES, task.name
        assert task.retry_condition_fn is retry_on_transient_errors, task.name


async def test_a_unit_of_work_commits_when_the_block_succeeds(
    session: AsyncSession, worker_database: Database
) -> None:
    async with unit_of_work(write=True) as task_session:
        await UserFactory.create(task_session, email="kept@example.com")
    assert await session.scalar(select(User).where(User.email == "kept@example.com"))


async def test_a_unit_of_work_leaves_nothing_when_the_block_fails(
    session: AsyncSession, worker_database: Database
) -> None:
    async def failing_task() -> None:
        async with unit_of_work(write=True) as task_session:
            await UserFactory.create(task_session, email="dropped@example.com")
            raise RuntimeError("the task failed half way")

    with pytest.raises(RuntimeError):
        await failing_task()
    assert await session.scalar(select(User).where(User.email == "dropped@example.com")) is None


def test_outside_a_run_the_logger_is_a_plain_one() -> None:
    logger = run_logger()
    assert isinstance(logger, logging.Logger)
    assert logger.name == "app.workers"
