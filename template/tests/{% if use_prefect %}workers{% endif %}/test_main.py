"""The worker entry point: every flow deployed once, loadable by a flow run, clear failures."""

import importlib
import json
import os
import pkgutil
import shlex

import pytest
from prefect import Flow
from prefect.client.schemas.schedules import CronSchedule
from prefect.flows import load_flow_from_entrypoint

import app.workers.flows
from app.infrastructure.config import Settings
from app.workers import main
from app.workers.deployments import DEPLOYMENTS
from tests.support.prefect import unreachable_api_url, without_connect_retries
from tests.support.processes import Command


def all_flows() -> list[Flow]:
    found = []
    for info in pkgutil.iter_modules(app.workers.flows.__path__):
        module = importlib.import_module(f"app.workers.flows.{info.name}")
        found += [value for value in vars(module).values() if isinstance(value, Flow)]
    return found


def test_every_flow_is_deployed_exactly_once() -> None:
    deployed = [deployment.name for deployment in DEPLOYMENTS]
    assert len(deployed) == len(set(deployed))
    assert sorted(deployed) == sorted(flow.name for flow in all_flows())


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d.name)
def test_a_flow_run_can_load_each_deployed_flow(
    deployment: main.Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(main.PROJECT_ROOT)
    entrypoint = main.entrypoint(deployment.flow)
    assert entrypoint.startswith("app/workers/flows/")
    assert load_flow_from_entrypoint(entrypoint).name == deployment.name


@pytest.mark.parametrize("deployment", [d for d in DEPLOYMENTS if d.cron], ids=lambda d: d.name)
def test_schedules_are_valid_cron_expressions(deployment: main.Deployment) -> None:
    assert CronSchedule(cron=deployment.cron or "", timezone="UTC").cron == deployment.cron


@pytest.mark.parametrize(
    ("prefect_api_url", "message"),
    [
        (None, "worker: PREFECT_API_URL is not set"),
        (unreachable_api_url(), "is unreachable"),
    ],
    ids=["unset", "unreachable"],
)
def test_the_worker_stops_with_one_line_without_a_prefect_api(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    prefect_api_url: str | None,
    message: str,
) -> None:
    settings = Settings(_env_file=None, prefect_api_url=prefect_api_url)
    monkeypatch.setattr(main, "get_settings", lambda: settings)
    monkeypatch.setattr(main, "configure_worker_logging", lambda _settings: None)
    without_connect_retries(monkeypatch)
    assert main.main() == 1
    error = capsys.readouterr().err
    assert message in error
    assert error.count("\n") == 1


# What the worker starts per flow run, here without a flow run id.
FLOW_RUN_WITHOUT_A_RUN = Command(
    *shlex.split(main.FLOW_RUN_COMMAND),
    env={
        "LOG_FORMAT": "json",
        **{name: None for name in os.environ if name.startswith("PREFECT__FLOW_RUN")},
    },
)


@pytest.mark.process(FLOW_RUN_WITHOUT_A_RUN)
def test_a_flow_run_process_logs_in_the_service_format() -> None:
    """`python -m app.workers.flow_run` (what the worker starts per run) sets up the service's
    logging, then runs Prefect's engine: here it fails on a missing run id, in JSON."""
    completed = FLOW_RUN_WITHOUT_A_RUN.result()
    assert completed.returncode == 1
    logged = [json.loads(line) for line in completed.stdout.splitlines()]
    assert [(line["logger"], line["level"]) for line in logged] == [("prefect.engine", "ERROR")]
    assert logged[0]["message"].startswith("Invalid flow run id")
    assert completed.stderr == ""
