"""T0: the Dockerfile of every variant passes hadolint, its images run the commands the tests
run (those of make targets), the api and migrations images carry no development tools, worker
code or Prefect, the build context holds what they copy and no more, and every install comes
from the lock file."""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import yaml

from tests.dockerfile import dockerfile_stages, image_command, instructions
from tests.helpers import answer, make, run, tool

# Each image runs the command of a make target, which is what the tests run.
IMAGE_COMMANDS = {
    "api": ["serve", "HOST=0.0.0.0", "PORT=8000"],
    "migrations": ["migrate"],
    "worker": ["worker"],
}


def test_dockerfile_passes_hadolint(rendered: Path) -> None:
    run([tool("hadolint"), "--no-color", "Dockerfile"], rendered, os.environ)


def test_images_run_the_commands_the_tests_run(rendered: Path) -> None:
    stages = dockerfile_stages((rendered / "Dockerfile").read_text())
    targets = {"api", "migrations"} | ({"worker"} if answer(rendered, "use_prefect") else set())
    assert targets == set(IMAGE_COMMANDS) & set(stages)
    for target in sorted(targets):
        dry_run = make(rendered, "-n", *IMAGE_COMMANDS[target]).splitlines()
        assert dry_run == ["uv run " + shlex.join(image_command(stages, target))], target


def test_api_and_migrations_images_carry_no_dev_tools_worker_code_or_prefect(
    rendered: Path,
) -> None:
    stages = dockerfile_stages((rendered / "Dockerfile").read_text())
    for target in ("api", "migrations"):
        syncs = [args for args in instructions(stages, target, "RUN") if "uv sync" in args]
        assert len(syncs) == 1, target
        assert re.search(r"uv sync --locked --no-dev --no-default-groups$", syncs[0]), syncs[0]
        code = [args for args in instructions(stages, target, "COPY") if args.endswith(" ./app")]
        assert code == ["--from=app-code /srv/app ./app"], target
    code_stage = stages["app-code"].instructions
    assert code_stage[0] == ("COPY", "app ./app")
    removes_workers = ("RUN", "rm -rf app/workers app/scripts/init_prefect.py") in code_stage
    assert removes_workers is answer(rendered, "use_prefect")

    pyproject = tomllib.loads((rendered / "pyproject.toml").read_text())
    assert not [dep for dep in pyproject["project"]["dependencies"] if "prefect" in dep]
    groups = pyproject["dependency-groups"]
    if answer(rendered, "use_prefect"):
        assert [dep for dep in groups["worker"] if dep.startswith("prefect")]
        assert "worker" in pyproject["tool"]["uv"]["default-groups"]
        worker_sync = [args for args in instructions(stages, "worker", "RUN") if "uv sync" in args]
        assert worker_sync[0].endswith(
            "uv sync --locked --no-dev --no-default-groups --group worker"
        )
    else:
        assert "worker" not in groups


def dockerignore_excludes(patterns: list[str], name: str) -> bool:
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if fnmatch(name, pattern.lstrip("!").rstrip("/")):
            excluded = not negated
    return excluded


def test_the_build_context_holds_what_the_images_need_and_no_more(rendered: Path) -> None:
    patterns = [
        line.strip()
        for line in (rendered / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    text = (rendered / "Dockerfile").read_text()
    copied = {
        args.split()[-2]
        for stage in dockerfile_stages(text).values()
        for keyword, args in stage.instructions
        if keyword == "COPY" and "--from=" not in args
    }
    mounted = set(re.findall(r"--mount=type=bind,source=([^,\s]+)", text))
    assert copied >= {"app", "migrations", "alembic.ini"}
    assert mounted == {"pyproject.toml", "uv.lock"}
    for needed in copied | mounted:
        assert not dockerignore_excludes(patterns, needed), needed
    for unwanted in (".env", ".git", ".venv", "tests", "app.db", "htmlcov", "README.md"):
        assert dockerignore_excludes(patterns, unwanted), unwanted


def test_ci_and_docker_install_only_from_the_lock_file(rendered: Path) -> None:
    assert not (rendered / "uv.lock").exists(), "the first `make install` writes uv.lock"
    texts = [(rendered / "Dockerfile").read_text()]
    workflows = rendered / ".github" / "workflows"
    if workflows.exists():
        texts += [path.read_text() for path in workflows.glob("*.yml")]
        ci = yaml.safe_load((workflows / "ci.yml").read_text())
        assert ci["jobs"]["check"]["env"]["UV_LOCKED"] == "1"
    syncs = [sync for text in texts for sync in re.findall(r"uv sync[^\n\"]*", text)]
    assert syncs
    assert [sync for sync in syncs if "--locked" not in sync] == []
