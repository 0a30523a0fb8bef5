"""T2: a project rendered from an earlier template revision takes `copier update` to the working
tree without losing its team's work, with or without a changed answer.

The team's work: a domain added with `make new-domain`, a new column with its migration, a
changed setting default and a README line. After the update nothing is left unmerged anywhere,
every file the team did not touch is what a fresh render holds, every revision file is as it
was, the edits are there, and `make check` passes. The revisions: tests/releases.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import answer, project_env, run
from tests.releases import (
    OBSOLETE_PARAGRAPH,
    Revisions,
    assert_untouched_files_are_freshly_rendered,
    commit_all,
    copier_update,
    git,
    prepare,
    render_at,
    revision_files,
    unmerged,
)

pytestmark = [pytest.mark.slow, pytest.mark.update]

# Answers of the first render, then answers changed by `copier update`: one scenario each.
# Changing answers brings files in (the workflows), takes one away (LICENSE) and changes one
# the team edited too (README.md); the answers that change the schema are test_schema_updates'.
UPDATES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "same-answers": ({}, {}),
    "answers-changed": (
        {"use_github_actions": False, "license": "MIT"},
        {"use_github_actions": True, "license": "Proprietary"},
    ),
}

# The user's edits: a new column with its migration, a changed setting default, a README line.
NEW_FIELD = "    nickname: Mapped[str | None] = mapped_column(String(80), default=None)\n"
README_NOTE = "\n## Team notes\n\nThe platform team runs this service.\n"


@pytest.fixture(scope="module")
def revisions(tmp_path_factory: pytest.TempPathFactory) -> Revisions:
    return prepare(tmp_path_factory.mktemp("template"))


def edit_like_a_user(project: Path, env: dict[str, str]) -> None:
    models = project / "app/domains/users/models.py"
    text = models.read_text()
    anchor = re.search(r"^    email: Mapped\[str\].*\n", text, re.M)
    assert anchor, "the users model has no email column to add a field after"
    models.write_text(text[: anchor.end()] + NEW_FIELD + text[anchor.end() :])
    run(["make", "migrate-create", "MESSAGE=add user nickname"], project, env)

    for name, old, new in (
        ("app/infrastructure/config.py", 'log_level: str = "INFO"', 'log_level: str = "WARNING"'),
        (".env.sample", "LOG_LEVEL=INFO\n", "LOG_LEVEL=WARNING\n"),
    ):
        path = project / name
        assert old in path.read_text(), f"{name} has no {old!r} to change"
        path.write_text(path.read_text().replace(old, new))
    with (project / "README.md").open("a") as readme:
        readme.write(README_NOTE)


@pytest.mark.parametrize("scenario", sorted(UPDATES))
def test_update_keeps_the_teams_work(scenario: str, revisions: Revisions, tmp_path: Path) -> None:
    before, after = UPDATES[scenario]
    project = render_at(revisions, revisions.old, before, tmp_path / "service")
    env = project_env(answer(project, "python_version"))
    env.pop("TEST_DATABASE_URL", None)
    run(["make", "install"], project, env)
    run(["make", "new-domain", "NAME=invoice"], project, env)
    edit_like_a_user(project, env)
    commit_all(project, "feat: the team's changes")
    touched = set(git(project, "diff", "--name-only", "HEAD~1", "HEAD").splitlines())
    kept = {name: (project / name).read_text() for name in touched}
    history = revision_files(project)

    copier_update(project, env, revisions.new, after)

    assert unmerged(project) == []
    assert {name: revision_files(project).get(name) for name in history} == history

    assert_untouched_files_are_freshly_rendered(project, touched, revisions, after, tmp_path)

    # The team's edits survive, next to the template's changes to the same files.
    assert NEW_FIELD in (project / "app/domains/users/models.py").read_text()
    assert 'log_level: str = "WARNING"' in (project / "app/infrastructure/config.py").read_text()
    assert "LOG_LEVEL=WARNING\n" in (project / ".env.sample").read_text()
    assert "Invoice as Invoice" in (project / "app/models.py").read_text()
    assert "invoices.router," in (project / "app/api/router.py").read_text()
    readme = (project / "README.md").read_text()
    assert readme.endswith(README_NOTE)
    if revisions.synthetic:
        assert OBSOLETE_PARAGRAPH not in readme
    for name in ("app/domains/invoice/models.py", "app/api/routes/invoices.py"):
        assert (project / name).read_text() == kept[name]

    result = run(["make", "check"], project, env)
    assert "database: SQLite" in result.stdout
    assert "tests/api/test_invoices.py" in result.stdout
