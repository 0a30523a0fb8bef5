"""The API and the worker are separate processes: a fresh API process loads neither Prefect nor
the worker code. One process, started once per run, serves this check and the one of
tests/test_processes.py (tests/support/processes.py)."""

from tests.support.processes import modules_of_a_fresh_api_process


def test_the_api_process_loads_neither_prefect_nor_the_worker_code() -> None:
    loaded = modules_of_a_fresh_api_process()
    assert "app.api.main" in loaded
    found = [m for m in loaded if m.split(".")[0] == "prefect" or m.startswith("app.workers")]
    assert sorted(found) == []
