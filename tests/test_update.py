"""T2: a project rendered from an earlier template revision takes `copier update` to the working
tree without losing its user's work, with or without a changed answer.

Both revisions live in a throw-away clone of this repository. The earlier one is the newest
release tag (`vX.Y.Z`) reachable from HEAD whose template differs from the working tree;
without one it is made: HEAD plus an obsolete README paragraph that the update must remove
(tagged `v0.0.0` when no release exists yet). The new revision is the working tree,
uncommitted changes included, committed on top, so the suite always updates to what is being
tested.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from copier import run_copy

from tests.helpers import TEMPLATE_ROOT, answer, project_env, run

pytestmark = [pytest.mark.slow, pytest.mark.update]

# Answers of the first render, then answers changed by `copier update`: one scenario each.
UPDATES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "same-answers": ({}, {}),
    "github-actions-on": ({"use_github_actions": False}, {"use_github_actions": True}),
    "license-proprietary": ({"license": "MIT"}, {"license": "Proprietary"}),
}

RELEASE_TAG = re.compile(r"v(\d+)\.(\d+)\.(\d+)")
TEMPLATE_PATHS = ("copier.yml", "extensions", "template")
OBSOLETE_PARAGRAPH = "This paragraph comes from an earlier revision of the template."
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "template-tests@example.com",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "template-tests@example.com",
}

# The user's edits: a new column with its migration, a changed setting default, a README line.
NEW_FIELD = "    nickname: Mapped[str | None] = mapped_column(String(80), default=None)\n"
README_NOTE = "\n## Team notes\n\nThe platform team runs this service.\n"


@dataclass(frozen=True)
class Revisions:
    source: Path  # the clone, recorded by copier as `_src_path`
    old: str
    new: str
    synthetic: bool


def git(repository: Path, *args: str) -> str:
    return run(["git", *args], repository, {**os.environ, **GIT_IDENTITY}).stdout.strip()


def version(tag: str) -> tuple[int, ...]:
    return tuple(int(number) for number in tag.lstrip("v").split("."))


def releases(repository: Path) -> list[str]:
    """Release tags reachable from HEAD, newest first."""
    tags = git(repository, "tag", "--merged", "HEAD", "--list", "v*").split()
    return sorted((tag for tag in tags if RELEASE_TAG.fullmatch(tag)), key=version, reverse=True)


def template_differs_from_working_tree(ref: str) -> bool:
    changed = subprocess.run(
        ["git", "diff", "--quiet", ref, "--", *TEMPLATE_PATHS], cwd=TEMPLATE_ROOT, check=False
    ).returncode
    untracked = git(TEMPLATE_ROOT, "ls-files", "--others", "--exclude-standard", *TEMPLATE_PATHS)
    return changed != 0 or bool(untracked)


def commit_working_tree(clone: Path) -> str:
    """Make the clone's files those of the working tree (untracked, not ignored, included)."""
    listed = git(TEMPLATE_ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for entry in clone.iterdir():
        if entry.is_dir() and entry.name != ".git":
            shutil.rmtree(entry)
        elif entry.is_file():
            entry.unlink()
    for name in filter(None, listed.split("\0")):
        if (TEMPLATE_ROOT / name).is_file():  # a tracked file deleted in the working tree is not
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TEMPLATE_ROOT / name, clone / name)
    git(clone, "add", "--all")
    git(clone, "commit", "--quiet", "--allow-empty", "-m", "the working tree")
    return git(clone, "rev-parse", "HEAD")


def commit_obsolete_readme(clone: Path, tag: bool) -> str:
    readme = clone / "template" / "README.md.jinja"
    title, rest = readme.read_text().split("\n", 1)
    readme.write_text(f"{title}\n\n{OBSOLETE_PARAGRAPH}\n{rest}")
    git(clone, "commit", "--quiet", "--all", "-m", "an earlier revision")
    if tag:
        git(clone, "tag", "v0.0.0")
    return git(clone, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def revisions(tmp_path_factory: pytest.TempPathFactory) -> Revisions:
    """The previous release (or a made one) and the working tree, in a throw-away clone.

    The working tree is tagged with pyproject.toml's version when that is ahead of every
    release (a release being prepared), so `_migrations` of that version run in the update.
    """
    clone = tmp_path_factory.mktemp("template") / "copier-fastapi-ddd"
    git(TEMPLATE_ROOT, "clone", "--quiet", str(TEMPLATE_ROOT), str(clone))
    git(clone, "checkout", "--quiet", "--detach", git(TEMPLATE_ROOT, "rev-parse", "HEAD"))
    tags = releases(clone)
    previous = next((tag for tag in tags if template_differs_from_working_tree(tag)), None)
    old = previous or commit_obsolete_readme(clone, tag=not tags)
    new = commit_working_tree(clone)
    prepared = "v" + tomllib.loads((clone / "pyproject.toml").read_text())["project"]["version"]
    if RELEASE_TAG.fullmatch(prepared) and (not tags or version(prepared) > version(tags[0])):
        git(clone, "tag", "--force", prepared, new)
    differs = subprocess.run(
        ["git", "diff", "--quiet", old, new, "--", *TEMPLATE_PATHS], cwd=clone, check=False
    )
    assert differs.returncode == 1, f"{old} and the working tree render the same project"
    return Revisions(clone, old, new, synthetic=previous is None)


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


def files(project: Path) -> set[str]:
    listed = git(project, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return {name for name in listed.split("\0") if name and (project / name).is_file()}


def copier_data(answers: dict[str, Any]) -> list[str]:
    return [
        f"--data={k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in answers.items()
    ]


@pytest.mark.parametrize("scenario", sorted(UPDATES))
def test_update_keeps_the_users_work(scenario: str, revisions: Revisions, tmp_path: Path) -> None:
    before, after = UPDATES[scenario]
    project = tmp_path / "service"
    run_copy(
        str(revisions.source),
        str(project),
        data=before,
        defaults=True,
        unsafe=True,
        vcs_ref=revisions.old,
        quiet=True,
    )
    env = {**project_env(answer(project, "python_version")), **GIT_IDENTITY}
    env.pop("TEST_DATABASE_URL", None)
    git(project, "init", "--quiet")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "chore: render the service")
    run(["make", "install"], project, env)
    edit_like_a_user(project, env)
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", "feat: the team's changes")
    touched = set(git(project, "diff", "--name-only", "HEAD~1", "HEAD").splitlines())
    kept = {name: (project / name).read_text() for name in touched}

    update = [sys.executable, "-m", "copier", "update", "--trust", "--defaults", "--quiet"]
    run([*update, "--vcs-ref", revisions.new, *copier_data(after)], project, env)

    # copier exits 0 on conflicts: look for what it leaves behind.
    assert [str(p.relative_to(project)) for p in project.rglob("*.rej")] == []
    untouched = files(project) - touched
    marked = [
        name
        for name in untouched
        if re.search(r"^(<{7}|>{7})( |$)", (project / name).read_text(errors="replace"), re.M)
    ]
    assert marked == []

    # Every file the user did not touch is what a fresh render of the new revision holds.
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert {key: answers[key] for key in after} == after
    assert answers["_commit"] == git(revisions.source, "describe", "--tags", revisions.new)
    fresh = tmp_path / "fresh"
    run_copy(
        str(revisions.source),
        str(fresh),
        data={key: value for key, value in answers.items() if not key.startswith("_")},
        defaults=True,
        unsafe=True,
        vcs_ref=revisions.new,
        quiet=True,
    )
    expected = {str(p.relative_to(fresh)) for p in fresh.rglob("*") if p.is_file()}
    assert sorted(untouched - expected) == [], "files the new revision no longer renders"
    assert sorted(expected - files(project)) == [], "files the update did not bring in"
    differing = [
        name
        for name in sorted(expected & untouched)
        if (project / name).read_bytes() != (fresh / name).read_bytes()
    ]
    assert differing == []

    # The user's edits survive, next to the template's changes to the same files.
    migration = [name for name in touched if name.startswith("migrations/versions/")]
    assert len(migration) == 1
    assert (project / migration[0]).read_text() == kept[migration[0]]
    assert NEW_FIELD in (project / "app/domains/users/models.py").read_text()
    assert 'log_level: str = "WARNING"' in (project / "app/infrastructure/config.py").read_text()
    assert "LOG_LEVEL=WARNING\n" in (project / ".env.sample").read_text()
    readme = (project / "README.md").read_text()
    assert readme.endswith(README_NOTE)
    if revisions.synthetic:
        assert OBSOLETE_PARAGRAPH not in readme

    result = run(["make", "check"], project, env)
    assert "database: SQLite" in result.stdout
    assert " passed" in result.stdout
