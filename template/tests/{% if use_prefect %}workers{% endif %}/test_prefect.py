"""On Prefect's engine and test server: a flow run end to end, the retry policy, the setup.

Tasks open their own database sessions here, as in production, so the rows they read are
really committed (outside any test transaction) and removed at the end. The test server starts
once per session; `uv run pytest -m "not prefect"` skips these tests while iterating.
"""

import asyncio
import contextlib
import io
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from uuid import UUID

import httpx
import pytest
from prefect import flow, get_client, task
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from prefect.context import FlowRunContext
from prefect.settings import PREFECT_API_URL
from sqlalchemy import delete
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.domains.base.authorization import Role
from app.domains.base.exceptions import NotFound
from app.domains.base.models import utc_now
from app.domains.users.factory import UserFactory
from app.domains.users.models import User
from app.infrastructure.config import Settings, get_settings
from app.infrastructure.database import Database
from app.scripts.init_prefect import init_prefect
from app.workers import runtime
from app.workers.deployments import DEPLOYMENTS
from app.workers.flows.users import users_report
from app.workers.logs import configure_worker_logging
from app.workers.main import FLOW_RUN_COMMAND, poll, register
from app.workers.server import prefect_client
from app.workers.tasks.example import find_user_by_email
from app.workers.tasks.users import count_users

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_server")]


@pytest.fixture
async def committed_users(
    engine: AsyncEngine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[list[User]]:
    """An admin and a standard user, committed; tasks find the database through the settings."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    database = Database(engine, owns_engine=False)
    async with database.unit_of_work(write=True) as session:
        users = [
            await UserFactory.create(session, role=Role.ADMIN),
            await UserFactory.create(session),
        ]
    yield users
    async with database.unit_of_work(write=True) as session:
        await session.execute(delete(User).where(User.id.in_([user.id for user in users])))
    get_settings.cache_clear()


def count_attempts(monkeypatch: pytest.MonkeyPatch, *, first_fails: bool) -> list[int]:
    """Count the units of work tasks open; the first may fail with a dropped connection."""
    opened: list[int] = []
    open_database = runtime.open_database

    def counting() -> Database:
        opened.append(1)
        if first_fails and len(opened) == 1:
            raise OperationalError("SELECT 1", {}, ConnectionResetError("connection reset"))
        return open_database()

    monkeypatch.setattr(runtime, "open_database", counting)
    return opened


@pytest.mark.usefixtures("committed_users")
async def test_a_flow_runs_to_completion_on_the_engine() -> None:
    statistics = await users_report(days=1)
    assert (statistics.total, statistics.admins, statistics.standard) == (2, 1, 1)
    assert statistics.joined_since == 2
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[users_report.name]))
        )
    assert [run.state_name for run in runs] == ["Completed"]


@pytest.mark.usefixtures("committed_users")
async def test_a_task_is_retried_after_an_infrastructure_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attempts = count_attempts(monkeypatch, first_fails=True)
    task = count_users.with_options(retry_delay_seconds=0)
    statistics = await task(utc_now() - timedelta(days=1))
    assert statistics.total == 2
    assert len(attempts) == 2


@pytest.mark.usefixtures("committed_users")
async def test_a_domain_error_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = count_attempts(monkeypatch, first_fails=False)
    task = find_user_by_email.with_options(retry_delay_seconds=0)
    with pytest.raises(NotFound, match="no user has this e-mail address"):
        await task("nobody@example.com")
    assert len(attempts) == 1


async def test_init_prefect_creates_the_pool_once_and_the_worker_registers_every_flow() -> None:
    settings = Settings(_env_file=None, prefect_api_url=PREFECT_API_URL.value(), worker_pool="t")
    assert (await init_prefect(settings)).startswith("work pool 't' created")
    assert (await init_prefect(settings)).startswith("work pool 't' already exists")
    async with prefect_client(settings) as client:
        for deployment in DEPLOYMENTS:
            await register(deployment, settings.worker_pool)
        registered = await client.read_deployments()
    assert sorted(d.name for d in registered) == sorted(d.name for d in DEPLOYMENTS)
    assert {d.work_pool_name for d in registered} == {"t"}
    assert {d.job_variables["command"] for d in registered} == {FLOW_RUN_COMMAND}
    assert {d.name: bool(d.schedules) for d in registered} == {
        d.name: d.cron is not None for d in DEPLOYMENTS
    }


async def test_the_worker_answers_its_health_probe_while_it_polls() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(
        _env_file=None,
        prefect_api_url=PREFECT_API_URL.value(),
        worker_pool="health",
        worker_health_port=port,
    )
    await init_prefect(settings)
    polling = asyncio.create_task(poll(settings))
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(200):  # up to 10 s for the worker to start
                with contextlib.suppress(httpx.TransportError):
                    health = await client.get(f"http://127.0.0.1:{port}/health")
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail(f"nothing answers on port {port}")
    finally:
        polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
    assert health.status_code == 200, health.text


@pytest.fixture
def worker_log() -> Iterator[io.StringIO]:
    """What the worker logs during the test, in its production format (JSON)."""
    loggers = [logging.getLogger(), logging.getLogger("prefect")]
    saved = [(logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    stream = io.StringIO()
    settings = Settings(_env_file=None, log_format="json", log_level="INFO")
    configure_worker_logging(settings, stream=stream)
    yield stream
    for logger, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


async def test_worker_log_lines_carry_the_flow_and_task_run_ids(worker_log: io.StringIO) -> None:
    logger = logging.getLogger("app.workers.example")

    @task
    async def step() -> UUID:
        logger.info("in the task")
        context = FlowRunContext.get()
        assert context is not None
        assert context.flow_run is not None
        return context.flow_run.id

    @flow
    async def job() -> UUID:
        logger.info("in the flow")
        return await step()

    flow_run_id = str(await job())

    lines = [json.loads(line) for line in worker_log.getvalue().splitlines()]
    by_message = {line["message"]: line for line in lines if line["logger"] == logger.name}
    assert by_message["in the flow"]["flow_run_id"] == flow_run_id
    assert "task_run_id" not in by_message["in the flow"]
    assert by_message["in the task"]["flow_run_id"] == flow_run_id
    assert UUID(by_message["in the task"]["task_run_id"])
    # Prefect's own lines (run created, state changes) come through the same handler.
    assert any(line["logger"].startswith("prefect.") for line in lines)
