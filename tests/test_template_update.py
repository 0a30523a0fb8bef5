"""T2: the rendered project's weekly template update (scripts/template_update.py, run by
.github/workflows/template-update.yml), run as the workflow runs it, against a newer release of
the template: the branch, the update, the checks, the pull request's title and body, and nothing
at all once the project is current. Only pushing the branch and opening the pull request (gh) is
left to GitHub."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import answer, project_env, run
from tests.releases import (
    GIT_IDENTITY,
    Revisions,
    commit_all,
    commit_template_change,
    git,
    prepare,
    releases,
    render_at,
    version,
)

pytestmark = [pytest.mark.slow, pytest.mark.update]

TEMPLATE_NOTE = "Run `make help` for every command of this service."
TEAM_NOTE = "Our on-call rota is in the team wiki."
RELEASE_NOTE = "- The README points to `make help`."


def release_after(revisions: Revisions) -> str:
    """A release of the working tree's template on top of it, with its CHANGELOG section and a
    README line the team will have edited too."""
    clone = revisions.source
    tags = releases(clone)
    major, minor, _ = version(tags[0]) if tags else (0, 0, 0)
    tag = f"v{major}.{minor + 1}.0"
    changelog = (clone / "CHANGELOG.md").read_text()
    section = f"## [{tag[1:]}] - 2026-12-07\n\n### Changed\n{RELEASE_NOTE}\n"
    readme = (clone / "template" / "README.md.jinja").read_text()
    title, rest = readme.split("\n", 1)
    commit = commit_template_change(
        clone,
        revisions.new,
        {
            # As a release does: its section under an emptied Unreleased.
            "CHANGELOG.md": changelog.replace("## Unreleased\n", f"## Unreleased\n\n{section}", 1),
            "template/README.md.jinja": f"{title}\n\n{TEMPLATE_NOTE}\n{rest}",
        },
        f"chore: release {tag}",
    )
    git(clone, "tag", tag, commit)
    return tag


def updater_env(project: Path, output: Path) -> dict[str, str]:
    return project_env(
        answer(project, "python_version"),
        COPIER=f"{sys.executable} -m copier",
        OUTPUT_DIR=str(output),
        GITHUB_OUTPUT=str(output / "github-output"),
        **GIT_IDENTITY,
    )


def test_the_weekly_update_prepares_one_pull_request(tmp_path: Path) -> None:
    revisions = prepare(tmp_path / "template")
    project = render_at(revisions, revisions.new, {"use_github_actions": True}, tmp_path / "svc")
    rendered_from = yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"]
    tag = release_after(revisions)
    output = tmp_path / "pr"
    output.mkdir()
    env = updater_env(project, output)
    run(["make", "install"], project, env)
    readme = project / "README.md"
    title, rest = readme.read_text().split("\n", 1)
    readme.write_text(f"{title}\n\n{TEAM_NOTE}\n{rest}")
    commit_all(project, "chore: lock, contract and a team note")
    main = git(project, "rev-parse", "HEAD")

    command = ["python3", "scripts/template_update.py", "--check", "--output", str(output)]
    result = run(command, project, env)

    outputs = (output / "github-output").read_text().splitlines()
    reported = dict(line.split("=", 1) for line in outputs)
    # No remote branch to replace: the workflow's push expects none (an empty lease).
    expected = {"updated": "true", "version": tag, "checks": "passed", "lease": ""}
    assert reported == expected, result.stdout
    assert git(project, "branch", "--show-current") == "template-update"
    assert git(project, "rev-parse", "HEAD~1") == main
    assert git(project, "status", "--porcelain") == ""
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == tag
    old = rendered_from.split("-")[0]
    title = (output / "pr-title.txt").read_text().strip()
    assert title == f"chore: update the template from {old} to {tag}"
    assert git(project, "log", "-1", "--format=%s") == title
    body = (output / "pr-body.md").read_text()
    assert f"from {old} to **{tag}**" in body
    assert RELEASE_NOTE in body
    assert "## Unreleased" not in body
    assert "`make check` passed" in body
    # The README line both sides wrote is a conflict, committed for a person to resolve.
    assert "## Conflicts to resolve" in body
    assert body.count("- `README.md`") == 1
    assert "<<<<<<< " in readme.read_text()
    assert TEMPLATE_NOTE in readme.read_text()
    assert TEAM_NOTE in readme.read_text()

    # Current: the next weekly run changes nothing.
    (output / "github-output").unlink()
    again = run(command, project, env)
    assert "nothing to do" in again.stdout
    assert (output / "github-output").read_text().split() == [
        "updated=false",
        f"version={tag}",
        "checks=skipped",
    ]
    assert git(project, "log", "-1", "--format=%s") == title
    assert git(project, "status", "--porcelain") == ""
