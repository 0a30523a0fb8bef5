"""The template's history for the update tier (T2), in a throw-away clone of this repository.

The clone holds two revisions: the earlier one is the newest release (`vX.Y.Z`) reachable from
HEAD whose template differs from the working tree; without one it is made: HEAD plus an
obsolete README paragraph that the update must remove (tagged `v0.0.0` when no release exists
yet). The new revision is the working tree, uncommitted changes included, committed on top, so
the tier always updates to what is being tested.

Tags do not always travel with the repository (a fresh clone on CI has none): a release is also
found by its commit, `chore: release vX.Y.Z`, and tagged in the clone.
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

import yaml
from copier import run_copy

from tests.helpers import TEMPLATE_ROOT, run

RELEASE_TAG = re.compile(r"v(\d+)\.(\d+)\.(\d+)")
TEMPLATE_PATHS = ("copier.yml", "extensions", "template", "updates")
RELEASE_COMMIT = re.compile(r"chore: release (v\d+\.\d+\.\d+)")
OBSOLETE_PARAGRAPH = "This paragraph comes from an earlier revision of the template."
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "template-tests@example.com",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "template-tests@example.com",
}


@dataclass(frozen=True)
class Revisions:
    source: Path  # the clone, recorded by copier as `_src_path`
    old: str
    new: str
    synthetic: bool
    first: str | None = None  # the first release, when it is not `old`: the oldest projects


def git(repository: Path, *args: str) -> str:
    return run(["git", *args], repository, {**os.environ, **GIT_IDENTITY}).stdout.strip()


def version(tag: str) -> tuple[int, ...]:
    return tuple(int(number) for number in tag.lstrip("v").split("."))


def releases(repository: Path) -> list[str]:
    """Release tags reachable from HEAD, newest first."""
    tags = git(repository, "tag", "--merged", "HEAD", "--list", "v*").split()
    return sorted((tag for tag in tags if RELEASE_TAG.fullmatch(tag)), key=version, reverse=True)


def template_differs_from_working_tree(commit: str) -> bool:
    changed = subprocess.run(
        ["git", "diff", "--quiet", commit, "--", *TEMPLATE_PATHS], cwd=TEMPLATE_ROOT, check=False
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


def tag_release_commits(clone: Path) -> None:
    """Tag each `chore: release vX.Y.Z` commit of HEAD's history that has no tag yet."""
    tagged = set(git(clone, "tag", "--list", "v*").split())
    for line in git(clone, "log", "--format=%H %s", "HEAD").splitlines():
        commit, _, subject = line.partition(" ")
        if (match := RELEASE_COMMIT.fullmatch(subject)) and match.group(1) not in tagged:
            git(clone, "tag", match.group(1), commit)
            tagged.add(match.group(1))


def commit_template_change(clone: Path, base: str, change: dict[str, str], message: str) -> str:
    """A newer template revision: `change` (path -> text) committed on top of `base`."""
    git(clone, "checkout", "--quiet", "--detach", base)
    for name, text in change.items():
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        (clone / name).write_text(text)
    git(clone, "add", "--all")
    git(clone, "commit", "--quiet", "-m", message)
    return git(clone, "rev-parse", "HEAD")


def prepare(directory: Path) -> Revisions:
    """The previous release (or a made one) and the working tree, in a throw-away clone.

    The working tree is tagged with pyproject.toml's version when that is ahead of every
    release (a release being prepared), so `_migrations` of that version run in the update.
    """
    clone = directory / "copier-fastapi-ddd"
    git(TEMPLATE_ROOT, "clone", "--quiet", str(TEMPLATE_ROOT), str(clone))
    git(clone, "checkout", "--quiet", "--detach", git(TEMPLATE_ROOT, "rev-parse", "HEAD"))
    tag_release_commits(clone)
    tags = releases(clone)
    previous = next(
        (
            tag
            for tag in tags
            if template_differs_from_working_tree(git(clone, "rev-parse", f"{tag}^{{commit}}"))
        ),
        None,
    )
    old = previous or commit_obsolete_readme(clone, tag=not tags)
    new = commit_working_tree(clone)
    prepared = "v" + tomllib.loads((clone / "pyproject.toml").read_text())["project"]["version"]
    if RELEASE_TAG.fullmatch(prepared) and (not tags or version(prepared) > version(tags[0])):
        git(clone, "tag", "--force", prepared, new)
    differs = subprocess.run(
        ["git", "diff", "--quiet", old, new, "--", *TEMPLATE_PATHS], cwd=clone, check=False
    )
    assert differs.returncode == 1, f"{old} and the working tree render the same project"
    first = tags[-1] if tags and tags[-1] != old else None
    return Revisions(clone, old, new, synthetic=previous is None, first=first)


def first_release_is_older_than_the_previous() -> bool:
    """Whether `prepare` will find a first release besides the previous one (read from this
    repository's history at collection time, before any clone exists)."""
    log = git(TEMPLATE_ROOT, "log", "--format=%H %s", "HEAD").splitlines()
    released = [
        commit
        for commit, _, subject in (line.partition(" ") for line in log)
        if RELEASE_COMMIT.fullmatch(subject)
    ]
    differing = [commit for commit in released if template_differs_from_working_tree(commit)]
    return len(differing) >= 2


def render_at(revisions: Revisions, ref: str, answers: dict[str, Any], project: Path) -> Path:
    """A project rendered from the clone at `ref`, committed as its first commit."""
    run_copy(
        str(revisions.source),
        str(project),
        data=answers,
        defaults=True,
        unsafe=True,
        vcs_ref=ref,
        quiet=True,
    )
    git(project, "init", "--quiet")
    commit_all(project, "chore: render the service")
    return project


def commit_all(project: Path, message: str) -> None:
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--allow-empty", "-m", message)


def copier_update(project: Path, env: dict[str, str], ref: str, answers: dict[str, Any]) -> str:
    """`copier update` to `ref` with changed answers, as a user runs it; its output."""
    data = [
        f"--data={k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in answers.items()
    ]
    command = [sys.executable, "-m", "copier", "update", "--trust", "--defaults", "--quiet"]
    completed = run([*command, "--vcs-ref", ref, *data], project, {**env, **GIT_IDENTITY})
    return completed.stdout + completed.stderr


def project_files(project: Path) -> set[str]:
    listed = git(project, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return {name for name in listed.split("\0") if name and (project / name).is_file()}


def unmerged(project: Path) -> list[str]:
    """What `copier update` leaves where it could not merge (it exits 0 all the same)."""
    rejected = [str(path.relative_to(project)) for path in project.rglob("*.rej")]
    marked = [
        name
        for name in sorted(project_files(project))
        if re.search(r"^(<{7}|>{7})( |$)", (project / name).read_text(errors="replace"), re.M)
    ]
    return rejected + marked


def revision_files(project: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(project)): path.read_bytes()
        for path in sorted((project / "migrations" / "versions").glob("*.py"))
    }


VERSIONS = "migrations/versions/"


def assert_untouched_files_are_freshly_rendered(
    project: Path, touched: set[str], revisions: Revisions, after: dict[str, Any], tmp_path: Path
) -> None:
    """Every file the team did not touch is what a fresh render of the new revision holds
    (revisions aside: they are the project's history, not the template's)."""
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
    # openapi.json is the project's, not the template's: the update writes it (updates/contract.py).
    assert (project / "openapi.json").is_file()
    generated = {"openapi.json"}
    untouched = {
        name
        for name in project_files(project) - touched - generated
        if not name.startswith(VERSIONS)
    }
    expected = {
        name
        for name in (str(p.relative_to(fresh)) for p in fresh.rglob("*") if p.is_file())
        if not name.startswith(VERSIONS)
    }
    assert sorted(untouched - expected) == [], "files the new revision no longer renders"
    assert sorted(expected - project_files(project)) == [], "files the update did not bring in"
    differing = [
        name
        for name in sorted(expected & untouched)
        if (project / name).read_bytes() != (fresh / name).read_bytes()
    ]
    assert differing == []
