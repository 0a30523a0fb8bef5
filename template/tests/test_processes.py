"""What a running API process loads: not Alembic (the readiness probe reads the migration files
itself).

The import rules between layers are import-linter contracts (pyproject.toml, `make lint`);
this checks what a fresh API process actually loads, dynamic imports included.
"""

import pytest

from tests.support.processes import FRESH_API_PROCESS, modules_of_a_fresh_api_process


@pytest.mark.process(FRESH_API_PROCESS)
def test_the_api_process_does_not_load_alembic() -> None:
    loaded = modules_of_a_fresh_api_process()
    assert "app.api.main" in loaded
    assert sorted(m for m in loaded if m.split(".")[0] == "alembic") == []
