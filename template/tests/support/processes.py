"""Commands some tests run in a new interpreter, each taking seconds (mostly imports).

A test declares the command it reads with `@pytest.mark.process(COMMAND)`; tests/conftest.py
starts every declared command as soon as the session has collected its tests, so it runs on
another core while the other tests do, and stops what is left when the session ends. The test
then waits for the result, which every test declaring the same command shares. A command no
collected test declares is started by the first `result()`.
"""

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Command:
    """One command run once per session in the project's root, its output captured."""

    def __init__(
        self,
        *args: str,
        env: Mapping[str, str | None] | None = None,
        timeout: float = 120,
    ) -> None:
        self.args = args
        # Changes to this process's environment: None removes a variable.
        self.env = dict(env or {})
        self.timeout = timeout
        self._process: subprocess.Popen[str] | None = None
        self._result: subprocess.CompletedProcess[str] | None = None

    def start(self) -> None:
        if self._process is not None:
            return
        environment = {**os.environ, **self.env}
        self._process = subprocess.Popen(  # noqa: S603 (a fixed command of the tests)
            self.args,
            cwd=PROJECT_ROOT,
            env={key: value for key, value in environment.items() if value is not None},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def result(self) -> subprocess.CompletedProcess[str]:
        """The finished command: its exit code and output (waits up to its timeout)."""
        if self._result is None:
            self.start()
            assert self._process is not None
            try:
                stdout, stderr = self._process.communicate(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                self.stop()
                raise
            self._result = subprocess.CompletedProcess(
                self.args, self._process.returncode, stdout, stderr
            )
        return self._result

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.communicate()


def declared(items: Iterable[pytest.Item]) -> list[Command]:
    """The commands the given tests declare, each once."""
    found: dict[int, Command] = {}
    for item in items:
        for marker in item.iter_markers("process"):
            found.setdefault(id(marker.args[0]), marker.args[0])
    return list(found.values())


# A fresh API process: it imports the ASGI application and reads the migration files as the
# readiness probe does, then prints the modules it has loaded.
FRESH_API_PROCESS = Command(
    sys.executable,
    "-c",
    "import sys, app.api.main\n"
    "from app.infrastructure.schema import read_revisions\n"
    "read_revisions()\n"
    "print(*sys.modules)",
)


def modules_of_a_fresh_api_process() -> frozenset[str]:
    completed = FRESH_API_PROCESS.result()
    assert completed.returncode == 0, completed.stderr
    return frozenset(completed.stdout.split())
