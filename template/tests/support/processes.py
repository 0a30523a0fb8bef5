"""What a fresh API process loads, found once per test session (a new interpreter takes seconds)."""

import functools
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def modules_of_a_fresh_api_process() -> frozenset[str]:
    """The modules loaded by a new interpreter that imports the ASGI application and reads the
    migration files as the readiness probe does."""
    code = (
        "import sys, app.api.main\n"
        "from app.infrastructure.schema import read_revisions\n"
        "read_revisions()\n"
        "print(*sys.modules)"
    )
    completed = subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return frozenset(completed.stdout.split())
