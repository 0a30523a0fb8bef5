"""Write a planned domain, add its migration and format it; undo everything on failure.

Checks that need the project's tools (the migrations agree with the models) run before the
first file is written. Writing is journaled, so a later failure (a migration or formatter
error, an interrupt) puts every file back as it was and removes what was created.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.scripts.new_domain.names import DomainNames
from app.scripts.new_domain.plan import GeneratorError, Plan, plan


@dataclass
class Changes:
    """The journal of one run: what it created and what the edited files held before."""

    root: Path
    created: list[Path] = field(default_factory=list)
    created_dirs: list[Path] = field(default_factory=list)
    originals: dict[Path, bytes] = field(default_factory=dict)

    def create(self, relative: Path, text: str) -> None:
        path = self.root / relative
        missing = [parent for parent in path.parents if not parent.exists()]
        for directory in reversed(missing):
            directory.mkdir()
            self.created_dirs.append(directory)
        with path.open("x", encoding="utf-8") as file:  # never overwrite
            self.created.append(path)
            file.write(text)

    def modify(self, relative: Path, text: str) -> None:
        path = self.root / relative
        self.originals[path] = path.read_bytes()
        path.write_text(text, encoding="utf-8")

    def adopt(self, path: Path) -> None:
        """Record a file another program created for this run."""
        self.created.append(path)

    def rollback(self) -> None:
        for path, content in self.originals.items():
            path.write_bytes(content)
        for path in reversed(self.created):
            path.unlink(missing_ok=True)
        for directory in reversed(self.created_dirs):
            shutil.rmtree(directory, ignore_errors=True)

    def python_files(self) -> list[Path]:
        files = [*self.created, *self.originals]
        return [path for path in files if path.suffix == ".py" and path.exists()]


Check = Callable[[Plan], None]
Step = Callable[[Plan, Changes], None]


@dataclass(frozen=True)
class Pipeline:
    checks: Sequence[Check] = ()  # before anything is written
    steps: Sequence[Step] = ()  # after the planned files are written


def generate(root: Path, names: DomainNames, pipeline: Pipeline | None = None) -> Changes:
    """Check, write the domain, then run the pipeline's steps: all or nothing."""
    planned = plan(root, names)
    if pipeline is None:
        pipeline = default_pipeline()
    for check in pipeline.checks:
        check(planned)
    changes = Changes(root)
    try:
        for relative, text in planned.files.items():
            changes.create(relative, text)
        for relative, text in planned.edits.items():
            changes.modify(relative, text)
        for step in pipeline.steps:
            step(planned, changes)
    except BaseException as error:
        changes.rollback()
        if not isinstance(error, Exception):  # an interrupt: stop, once the files are back
            raise
        message = str(error) if isinstance(error, GeneratorError) else repr(error)
        raise GeneratorError(
            f"{message}\nnothing was changed: every file is back as it was"
        ) from error
    return changes


def default_pipeline() -> Pipeline:
    if importlib.util.find_spec("ruff") is None:
        raise GeneratorError("ruff is not installed; run `make install` first")
    return Pipeline(checks=[check_in_sync], steps=[add_migration, format_code])


def check_in_sync(plan: Plan) -> None:
    """The models and the migrations agree now, so the new migration holds only the domain."""
    try:
        _run(plan.root, "the migration check", ["-m", "app.scripts.revisions", "check"])
    except GeneratorError as error:
        raise GeneratorError(
            "the models and the migrations already disagree; add a migration for that "
            f"first (make migrate-create MESSAGE=...)\n{error}"
        ) from error


def add_migration(plan: Plan, changes: Changes) -> None:
    """Autogenerate the domain's revision (app/scripts/revisions.py: on a scratch database,
    on top of every head), in a new process, which imports the new models."""
    versions = plan.root / "migrations" / "versions"
    before = set(versions.glob("*.py"))
    message = f"add {plan.names.plural}"
    try:
        _run(plan.root, "the migration", ["-m", "app.scripts.revisions", "create", message])
    finally:
        for path in sorted(set(versions.glob("*.py")) - before):
            changes.adopt(path)


def format_code(plan: Plan, changes: Changes) -> None:
    """Sort imports (their order depends on the name), format, then lint what was written."""
    files = [str(path) for path in changes.python_files()]
    _run(plan.root, "ruff check --fix", ["-m", "ruff", "check", "--fix-only", "--quiet", *files])
    _run(plan.root, "ruff format", ["-m", "ruff", "format", "--quiet", *files])
    _run(plan.root, "ruff check", ["-m", "ruff", "check", "--quiet", *files])


def _run(root: Path, label: str, arguments: list[str]) -> None:
    """Run a tool with this interpreter (so in the project's environment); fail on error."""
    environment = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    completed = subprocess.run(  # noqa: S603 (fixed programs, arguments built here)
        [sys.executable, *arguments],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        lines = (completed.stdout + completed.stderr).strip().splitlines()
        problems = [line for line in lines if not line.startswith("INFO ")][-15:]
        raise GeneratorError(f"{label} failed:\n" + "\n".join(problems))
