"""The API and the worker are separate processes: a fresh API process loads neither Prefect nor
the worker code. One process, started once per run as the tests are collected, serves this
check and the one of tests/test_processes.py (tests/support/processes.py)."""

import pytest

from tests.support.processes import FRESH_API_PROCESS, modules_of_a_fresh_api_process


@pytest.mark.process(FRESH_API_PROCESS)
def test_the_api_process_loads_neither_prefect_nor_the_worker_code() -> None:
    loaded = modules_of_a_fresh_api_process()
    assert "app.api.main" in loaded
    found = [m for m in loaded if m.split(".")[0] == "prefect" or m.startswith("app.workers")]
    assert sorted(found) == []
