"""T0: the template's Alembic revisions can never be rewritten by an answer, every question that
changes the models owns a revision, and the update steps (updates/) do what copier.yml says.

A revision's file is plain (never `.jinja`: nothing in it depends on an answer) and its name
carries at most one condition, the option it belongs to. T2 (test_schema_updates.py) then turns
each owner on and off in projects with data.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import (
    BOOLEAN_OPTIONS,
    QUESTIONS,
    SCHEMA_OPTIONS,
    TEMPLATE_ROOT,
    TEMPLATE_VERSIONS,
    boolean_defaults,
    rejection,
    revision_owners,
)
from tests.traces import Renders
from updates import revisions as revisions_step
from updates import v0_2_0
from updates.history import graft, heads, parse

MODEL_FILES = ("app/models.py", "app/domains/*/models.py")


def test_template_revisions_depend_on_no_answer_but_their_owner() -> None:
    owners = revision_owners()
    assert owners, "the template renders no revision"
    for name, owner in owners.items():
        assert not name.endswith(".jinja"), f"{name}: a revision's content must not be rendered"
        assert owner is not None or "{" not in name, f"{name}: one `{{% if OPTION %}}` at most"
        assert owner is None or QUESTIONS[owner].get("type") == "bool", name
    revisions = {
        parsed.revision: (parsed, owner)
        for name, owner in owners.items()
        if (parsed := parse(name, (TEMPLATE_VERSIONS / name).read_text())) is not None
    }
    assert len(revisions) == len(owners), "a file that is not a revision, or a duplicate id"
    for parsed, owner in revisions.values():
        for parent in parsed.parents:
            assert parent in revisions, f"{parsed.revision} follows an unknown {parent}"
            assert revisions[parent][1] in (None, owner), (
                f"{parsed.revision} ({owner}) follows {parent}, another option's revision"
            )


def models_of(project: Path) -> dict[str, str]:
    return {
        str(path.relative_to(project)): path.read_text()
        for pattern in MODEL_FILES
        for path in project.glob(pattern)
    }


def toggled(option: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The defaults with `option` off and on, each valid (another auth method on if needed)."""
    pair = []
    for value in (False, True):
        answers = {**boolean_defaults(), option: value}
        for other in BOOLEAN_OPTIONS:
            if rejection(answers) is None:
                break
            answers[other] = True
        assert rejection(answers) is None, answers
        pair.append(answers)
    return pair[0], pair[1]


@pytest.mark.parametrize("option", BOOLEAN_OPTIONS)
def test_a_question_that_changes_the_models_owns_a_revision(option: str, renders: Renders) -> None:
    off, on = (models_of(renders.project(answers)) for answers in toggled(option))
    assert (off != on) == (option in SCHEMA_OPTIONS), (
        f"{option} {'changes' if off != on else 'does not change'} the models; "
        f"the options owning a revision are {SCHEMA_OPTIONS}"
    )


def test_migrations_run_before_the_steps_they_prepare() -> None:
    """v0.2.0's `after` step re-registers domains: the every-update step then autogenerates
    against the models, which must include them by then."""
    settings = yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text())
    commands = [entry["command"] for entry in settings["_migrations"]]
    assert commands.index(next(c for c in commands if 'v0_2_0.py" after' in c)) < commands.index(
        next(c for c in commands if "revisions.py" in c)
    )
    assert "migrations/versions/*.py" in settings["_skip_if_exists"]


REVISION = '''"""A revision.

Revision ID: {revision}
Revises: 0001
Create Date: 2025-01-01 00:00:00
"""

from collections.abc import Sequence

revision: str = "{revision}"
down_revision: str | Sequence[str] | None = "0001"
'''


def ruff_formatted(text: str, tmp_path: Path) -> bool:
    path = tmp_path / "revision.py"
    path.write_text(text)
    checked = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--line-length", "100", str(path)],
        capture_output=True,
        check=False,
    )
    return checked.returncode == 0


@pytest.mark.parametrize(
    "parents",
    [["a1b2c3d4e5f6"], ["api_keys_0001", "clerk_0001"], [f"{n:012x}_merge" for n in range(6)]],
)
def test_a_graft_gives_new_parents_formatted_as_ruff_does(
    parents: list[str], tmp_path: Path
) -> None:
    grafted = graft(REVISION.format(revision="0002"), parents)
    assert parse("0002.py", grafted).parents == tuple(parents)
    assert f"Revises: {', '.join(parents)}\n" in grafted
    assert ruff_formatted(grafted, tmp_path), grafted


def test_heads_are_the_revisions_no_other_follows() -> None:
    texts = {
        "0001": "revision = '0001'\ndown_revision = None\n",
        "a": "revision = 'a'\ndown_revision = '0001'\n",
        "b": "revision: str = 'b'\ndown_revision: str | None = '0001'\n",
        "m": "revision = 'm'\ndown_revision = ('a', 'b')\n",
        "c": "revision = 'c'\ndown_revision = '0001'\n",
    }
    parsed = [parse(name, text) for name, text in texts.items()]
    assert heads(p for p in parsed if p is not None) == ["c", "m"]
    assert parse("x.py", "print('not a revision')\n") is None


V0_1_ROUTER = """\
from fastapi import APIRouter

from app.api.routes import api_keys, health, invoices, users
from app.api.routes.webhooks import clerk

api_router = APIRouter()
for router in (
    health.router,
    users.router,
    api_keys.router,
    invoices.router,
):
    api_router.include_router(router)
"""
V0_1_MODELS = """\
from app.domains.api_keys.models import APIKey
from app.domains.base.models import Base
from app.domains.invoice.models import Invoice
from app.domains.users.models import User

__all__ = [
    "APIKey",
    "Base",
    "User",
    "Invoice",
]
"""
V0_2_ROUTER = """\
from fastapi import APIRouter

from app.api.routes import api_keys, health, users

# isort: split
# Domains added with `make new-domain`:

api_router = APIRouter()
for router in (
    api_keys.router,
    health.router,
    users.router,
    # Domains added with `make new-domain`:
):
    api_router.include_router(router)
"""
V0_2_MODELS = """\
from app.domains.base.models import Base as Base

# isort: split
# Domains added with `make new-domain`:
"""


def test_v0_2_0_moves_generated_registrations_off_the_template_lines(tmp_path: Path) -> None:
    project = tmp_path / "service"
    (project / "app" / "api").mkdir(parents=True)
    (project / "app" / "api" / "router.py").write_text(V0_1_ROUTER)
    (project / "app" / "models.py").write_text(V0_1_MODELS)
    subprocess.run(["git", "init", "--quiet", str(project)], check=True)

    taken = v0_2_0.remove_registrations(project)

    assert taken == {"routes": ["invoices"], "models": ["app.domains.invoice.models:Invoice"]}
    router = (project / "app" / "api" / "router.py").read_text()
    assert "from app.api.routes import api_keys, health, users\n" in router
    assert "invoices" not in router
    assert "Invoice" not in (project / "app" / "models.py").read_text()

    (project / "app" / "api" / "router.py").write_text(V0_2_ROUTER)
    (project / "app" / "models.py").write_text(V0_2_MODELS)
    v0_2_0.restore_registrations(project, taken)
    router = (project / "app" / "api" / "router.py").read_text()
    assert (
        "# Domains added with `make new-domain`:\nfrom app.api.routes import invoices\n" in router
    )
    assert "    # Domains added with `make new-domain`:\n    invoices.router,\n):\n" in router
    assert (
        (project / "app" / "models.py")
        .read_text()
        .endswith("from app.domains.invoice.models import Invoice as Invoice\n")
    )


@pytest.mark.parametrize("revision", sorted(v0_2_0.COVERED_BY))
def test_v0_2_0_writes_the_template_revision_as_a_no_op(revision: str, tmp_path: Path) -> None:
    name, title = v0_2_0.template_revision_file(revision)
    assert any(path.name.endswith(f"{name}{{% endif %}}") for path in TEMPLATE_VERSIONS.iterdir())
    stub = v0_2_0.STUB.format(title=title, revision=revision)
    parsed = parse(name, stub)
    assert parsed is not None
    assert (parsed.revision, parsed.parents) == (revision, ("0001",))
    assert ruff_formatted(stub, tmp_path), stub


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        ({"auth_clerk": False}, {"auth_clerk": True, "auth_api_keys": True}, "turn on auth_clerk"),
        ({"auth_clerk": True, "auth_api_keys": True}, {"auth_clerk": False}, "turn off auth_clerk"),
        ({"auth_clerk": True}, {"auth_clerk": True, "_commit": "v9.0.0"}, "to v9.0.0"),
    ],
)
def test_the_synced_revision_is_named_after_the_answers_changed(
    before: dict[str, Any], after: dict[str, Any], message: str
) -> None:
    """A question Copier did not ask has no recorded answer: it is read as its default."""
    assert revisions_step.describe(before, after).endswith(message)


def project_with_a_change(tmp_path: Path, text: str) -> Path:
    """A committed project whose models file the update then changed to `text`, turning Clerk
    off."""
    project = tmp_path / "service"
    models = project / "app" / "models.py"
    models.parent.mkdir(parents=True)
    models.write_text("from app.domains.base.models import Base as Base\n")
    (project / ".copier-answers.yml").write_text("auth_clerk: true\n")
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "before the update"]):
        subprocess.run(["git", *command], cwd=project, check=True, env=GIT_ENV)
    models.write_text(text)
    (project / ".copier-answers.yml").write_text("auth_clerk: false\n")
    return project


GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "PATH": "/usr/bin:/bin",
}
CONFLICTED = """\
<<<<<<< before updating
from app.domains.users.models import User as User
=======
from app.domains.base.models import Base as Base
>>>>>>> after updating
"""


def recording_make(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put a `make` first on PATH that only writes its arguments, one line a run, to the
    file returned."""
    tools, record = tmp_path / "bin", tmp_path / "make-ran"
    tools.mkdir()
    (tools / "make").write_text(f'#!/bin/sh\necho "$@" >> {record}\n')
    (tools / "make").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:/usr/bin:/bin")
    return record


def test_an_update_that_leaves_conflicts_names_them_and_the_command_that_finishes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_with_a_change(tmp_path, CONFLICTED)
    ran = recording_make(tmp_path, monkeypatch)
    monkeypatch.chdir(project)
    status = revisions_step.main()
    error = capsys.readouterr().err
    assert status == 0, error
    assert not ran.exists(), "with conflicts left, no step may run"
    assert "first resolve the conflicts in app/models.py, then run" in error
    command = "make install migrate-sync 'MESSAGE=copier update: turn off auth_clerk' openapi"
    assert f"`{command}`" in error


def test_without_conflicts_the_update_runs_its_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A line that looks like a marker, alone, is text (a note about merging, say).
    text = '"""<<<<<<< marks where a merge conflict starts."""\nfrom app import Base\n'
    project = project_with_a_change(tmp_path, text)
    ran = recording_make(tmp_path, monkeypatch)
    monkeypatch.chdir(project)
    assert revisions_step.main() == 0, capsys.readouterr().err
    assert ran.read_text().splitlines() == [
        "install",
        "migrate-sync MESSAGE=copier update: turn off auth_clerk",
    ]
