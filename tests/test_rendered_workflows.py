"""T0: the GitHub workflows of a variant with `use_github_actions` match the workflow schema,
their references resolve, their shell steps pass shellcheck, their actions are pinned by commit,
each job has only the permissions it needs, zizmor finds nothing in them, Dependabot keeps
them and the dependencies up to date, and releases come from scripts/next_version.py; without
the option, there are none."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import (
    CI_MAKE_TARGETS,
    answer,
    check_jsonschema,
    dependabot_problems,
    dependabot_updates,
    run,
    tool,
    unpinned_uses,
    zizmor,
)

WORKFLOWS = {"ci.yml", "release.yml", "build-images.yml", "template-update.yml"}
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
# The only write permissions, by workflow and job: tagging a release, pushing its images. The
# template update pushes and opens its pull request with the secret TEMPLATE_UPDATE_TOKEN.
WRITES = {
    ("release.yml", "version"): {"contents"},
    ("release.yml", "images"): {"packages"},
}
DEPENDABOT_ECOSYSTEMS = {"uv", "github-actions", "docker"}


def workflow_files(project: Path) -> list[Path]:
    return sorted((project / ".github" / "workflows").glob("*.yml"))


def test_workflows_match_the_github_schema(rendered: Path) -> None:
    files = workflow_files(rendered)
    if not answer(rendered, "use_github_actions"):
        assert files == []
        return
    assert {path.name for path in files} == WORKFLOWS
    for schema in ("vendor.github-workflows", "custom.github-workflows-require-timeout"):
        check_jsonschema("--builtin-schema", schema, *files)


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    return {name: spec or {} for name, spec in (on or {}).items()}


def expressions(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [found for value in node.values() for found in expressions(value)]
    if isinstance(node, list):
        return [found for value in node for found in expressions(value)]
    return EXPRESSION.findall(node) if isinstance(node, str) else []


def test_workflow_references_resolve(rendered: Path) -> None:
    """What actionlint would catch: unknown jobs, step ids, outputs, inputs, matrix keys."""
    workflows = {path.name: yaml.safe_load(path.read_text()) for path in workflow_files(rendered)}
    for name, workflow in workflows.items():
        on = triggers(workflow)
        inputs = {
            key for event in ("workflow_call", "workflow_dispatch")
            for key in on.get(event, {}).get("inputs", {})
        }  # fmt: skip
        jobs = workflow["jobs"]
        for job_name, job in jobs.items():
            where = f"{name}: {job_name}"
            needs = job.get("needs", [])
            needs = [needs] if isinstance(needs, str) else needs
            assert set(needs) <= set(jobs), where
            step_ids = {step["id"] for step in job.get("steps", []) if "id" in step}
            matrix = set(job.get("strategy", {}).get("matrix", {}))
            for expression in expressions(job):
                for step in re.findall(r"\bsteps\.([\w-]+)", expression):
                    assert step in step_ids, f"{where}: unknown step {step}"
                for need, output in re.findall(r"\bneeds\.([\w-]+)\.outputs\.([\w-]+)", expression):
                    assert need in needs, where
                    assert output in jobs[need].get("outputs", {}), where
                for key in re.findall(r"\binputs\.([\w-]+)", expression):
                    assert key in inputs, f"{where}: unknown input {key}"
                for key in re.findall(r"\bmatrix\.([\w-]+)", expression):
                    assert key in matrix, f"{where}: unknown matrix key {key}"
            if str(job.get("uses", "")).startswith("./.github/workflows/"):
                called = workflows[job["uses"].rsplit("/", 1)[1]]
                declared = triggers(called)["workflow_call"].get("inputs", {})
                given = set(job.get("with", {}))
                required = {key for key, spec in declared.items() if spec.get("required")}
                assert required <= given <= set(declared), where


def test_workflow_shell_steps_pass_shellcheck(rendered: Path, tmp_path: Path) -> None:
    scripts = []
    for path in workflow_files(rendered):
        for job_name, job in yaml.safe_load(path.read_text())["jobs"].items():
            for index, step in enumerate(job.get("steps", [])):
                if "run" not in step:
                    continue
                # As GitHub does, expressions are substituted before the shell sees the script.
                body = EXPRESSION.sub(lambda found: "_" * len(found[0]), step["run"])
                script = tmp_path / f"{path.stem}-{job_name}-{index}.sh"
                script.write_text(f"#!/usr/bin/env bash\nset -e\n{body}")
                scripts.append(str(script))
    if not answer(rendered, "use_github_actions"):
        assert scripts == []
        return
    assert scripts
    run([tool("shellcheck"), "--shell=bash", *scripts], tmp_path, os.environ)


def test_release_scheme_comes_from_next_version(rendered: Path) -> None:
    if not answer(rendered, "use_github_actions"):
        assert not (rendered / "scripts").exists()
        return
    release = yaml.safe_load((rendered / ".github" / "workflows" / "release.yml").read_text())
    on = triggers(release)
    assert on["push"] == {"branches": ["main"]}
    assert on["workflow_dispatch"]["inputs"]["bump"]["options"] == ["patch", "minor", "major"]
    runs = "\n".join(step.get("run", "") for step in release["jobs"]["version"]["steps"])
    assert "python scripts/next_version.py --from-tags --bump" in runs
    assert release["jobs"]["images"]["with"]["push"] is True
    ci = yaml.safe_load((rendered / ".github" / "workflows" / "ci.yml").read_text())
    assert ci["jobs"]["images"]["with"]["push"] is False
    matrix = yaml.safe_load((rendered / ".github" / "workflows" / "build-images.yml").read_text())
    targets = matrix["jobs"]["build"]["strategy"]["matrix"]["target"]
    assert set(targets) == {"api", "migrations"} | (
        {"worker"} if answer(rendered, "use_prefect") else set()
    )


def test_ci_runs_the_make_targets_on_postgresql(rendered: Path) -> None:
    """The check job is the Makefile's commands (T1 runs the same list on PostgreSQL)."""
    if not answer(rendered, "use_github_actions"):
        return
    job = yaml.safe_load((rendered / ".github" / "workflows" / "ci.yml").read_text())["jobs"]
    steps = [step.get("run", "") for step in job["check"]["steps"]]
    targets = [word for run_ in steps if run_.startswith("make ") for word in run_.split()[1:]]
    assert tuple(targets) == CI_MAKE_TARGETS
    assert job["check"]["env"]["TEST_DATABASE_URL"].startswith("postgresql+asyncpg://")


def test_actions_are_pinned_by_commit(rendered: Path) -> None:
    """A tag can be moved to other code; a commit cannot. The comment is the version Dependabot
    reads and updates with the commit."""
    files = workflow_files(rendered)
    if not answer(rendered, "use_github_actions"):
        assert files == []
        return
    assert [line for path in files for line in unpinned_uses(path)] == []


def test_jobs_have_only_the_permissions_they_need(rendered: Path) -> None:
    """No permission at the top of a workflow; each job asks for its own, and only two write.
    A called workflow asks for none: its jobs get what the calling job grants."""
    if not answer(rendered, "use_github_actions"):
        assert workflow_files(rendered) == []
        return
    writes = {}
    for path in workflow_files(rendered):
        workflow = yaml.safe_load(path.read_text())
        if set(triggers(workflow)) == {"workflow_call"}:
            assert "permissions" not in workflow, path.name
            assert [name for name, job in workflow["jobs"].items() if "permissions" in job] == []
            continue
        assert workflow["permissions"] == {}, path.name
        for name, job in workflow["jobs"].items():
            assert isinstance(job.get("permissions"), dict), f"{path.name}: {name}"
            written = {scope for scope, level in job["permissions"].items() if level == "write"}
            if written:
                writes[path.name, name] = written
    assert writes == WRITES


def test_zizmor_finds_nothing(rendered: Path) -> None:
    if not answer(rendered, "use_github_actions"):
        assert not (rendered / ".github").exists()
        return
    zizmor(rendered)


def test_dependabot_updates_every_ecosystem(rendered: Path) -> None:
    """The locked Python packages, the workflows' actions and the Dockerfile's base images."""
    config = rendered / ".github" / "dependabot.yml"
    if not answer(rendered, "use_github_actions"):
        assert not config.exists()
        return
    updates = dependabot_updates(config)
    assert set(updates) == DEPENDABOT_ECOSYSTEMS
    assert dependabot_problems(updates) == []
    assert {update["directory"] for update in updates.values()} == {"/"}
    assert (rendered / "pyproject.toml").is_file()
    assert (rendered / "Dockerfile").is_file()


def test_the_template_update_requires_its_token(rendered: Path, tmp_path: Path) -> None:
    """GITHUB_TOKEN can never push a change under .github/workflows/ and opens pull requests
    only where the repository allows it: without TEMPLATE_UPDATE_TOKEN the run stops at its
    first step, naming the secret and the permissions it needs; nothing falls back to it."""
    path = rendered / ".github" / "workflows" / "template-update.yml"
    if not answer(rendered, "use_github_actions"):
        assert not path.exists()
        return
    job = yaml.safe_load(path.read_text())["jobs"]["update"]
    assert job["permissions"] == {"contents": "read"}
    first = job["steps"][0]
    assert first["env"] == {"TEMPLATE_UPDATE_TOKEN": "${{ secrets.TEMPLATE_UPDATE_TOKEN }}"}
    tokens = [
        value
        for step in job["steps"]
        for name, value in step.get("env", {}).items()
        if name in {"GH_TOKEN", "GITHUB_TOKEN"}
    ]
    assert tokens == ["${{ secrets.TEMPLATE_UPDATE_TOKEN }}"]
    script = tmp_path / "require-token.sh"
    script.write_text(first["run"])
    env = {key: value for key, value in os.environ.items() if key != "TEMPLATE_UPDATE_TOKEN"}

    def check(token: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-e", str(script)],
            env={**env, "TEMPLATE_UPDATE_TOKEN": token},
            capture_output=True,
            text=True,
            check=False,
        )

    missing = check("")
    assert missing.returncode == 1
    assert missing.stdout.startswith("::error title=TEMPLATE_UPDATE_TOKEN is not set::")
    for needed in ("Contents", "Pull requests", "Workflows", "read and write", "GitHub App"):
        assert needed in missing.stdout
    present = check("github_pat_x")
    assert (present.returncode, present.stdout) == (0, "")


def test_the_template_update_never_pushes_over_a_newer_branch(rendered: Path) -> None:
    """The branch is pushed with a lease on the commit the script saw (its `lease` output):
    a commit pushed to it since, a person's, is never overwritten."""
    path = rendered / ".github" / "workflows" / "template-update.yml"
    if not answer(rendered, "use_github_actions"):
        return
    steps = yaml.safe_load(path.read_text())["jobs"]["update"]["steps"]
    pushes = [step for step in steps if "git push" in step.get("run", "")]
    assert len(pushes) == 1
    assert pushes[0]["env"]["LEASE"] == "${{ steps.update.outputs.lease }}"
    assert '--force-with-lease="refs/heads/template-update:${LEASE}"' in pushes[0]["run"]
    assert "--force " not in pushes[0]["run"]


def test_run_steps_fail_on_a_failing_pipeline(rendered: Path) -> None:
    """`shell: bash` is bash -eo pipefail; left unset, GitHub runs bash -e, and `a | b` passes
    when `a` fails."""
    for path in workflow_files(rendered):
        workflow = yaml.safe_load(path.read_text())
        steps = [step for job in workflow["jobs"].values() for step in job.get("steps", [])]
        if any("run" in step for step in steps):
            assert workflow.get("defaults") == {"run": {"shell": "bash"}}, path.name
        assert [step for step in steps if step.get("shell", "bash") != "bash"] == [], path.name


def test_setup_uv_installs_the_dockerfile_s_uv(rendered: Path) -> None:
    """CI and the template update run the uv the images are built with."""
    if not answer(rendered, "use_github_actions"):
        return
    image = re.search(r"ghcr\.io/astral-sh/uv:(\S+)", (rendered / "Dockerfile").read_text())
    assert image is not None
    versions = [
        step.get("with", {}).get("version")
        for path in workflow_files(rendered)
        for job in yaml.safe_load(path.read_text())["jobs"].values()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).startswith("astral-sh/setup-uv@")
    ]
    assert versions
    assert versions == [image.group(1)] * len(versions)
