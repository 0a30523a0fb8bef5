"""T0: the operations files of every variant, checked without Docker or GitHub.

The Dockerfile passes hadolint, compose files match the compose specification and workflows
GitHub's workflow schema; workflow shell steps pass shellcheck and their references (reusable
workflows, inputs, needs, step ids, matrix keys) resolve. `make help` lists every target with a
description and `make -n` expands each one. The images run exactly the commands the tests run
through make, the api image carries no development tools, worker code or Prefect, every
install in CI and Docker is `--locked`, and the README's make commands exist.
"""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_copie.plugin import Copie

from tests.dockerfile import dockerfile_stages, image_command, instructions
from tests.helpers import (
    all_boolean_combinations,
    answer,
    project_env,
    rejection,
    rendered_project,
    variant_id,
)

VALID = [answers for answers in all_boolean_combinations() if rejection(answers) is None]

# The seed design's make commands, plus `check` and `serve` (the api image's command).
MAKE_TARGETS = {
    "help", "install", "dev", "serve", "test", "test-cov", "lint", "format", "type-check",
    "check", "migrate", "migrate-create", "migrate-down", "migrate-history", "create-user",
    "clean", "clean-docker", "docker-build-all", "docker-up", "docker-logs", "docker-down",
}  # fmt: skip
PREFECT_MAKE_TARGETS = {"init-prefect", "worker", "docker-up-prefect"}

# Each image runs the command of a make target, which is what the tests run.
IMAGE_COMMANDS = {
    "api": ["serve", "HOST=0.0.0.0", "PORT=8000"],
    "migrations": ["migrate"],
    "worker": ["worker"],
}
WORKFLOWS = {"ci.yml", "release.yml", "build-images.yml"}
ANSI = re.compile(r"\x1b\[[0-9;]*m")
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


@pytest.fixture(scope="module", params=VALID, ids=variant_id)
def rendered(request: pytest.FixtureRequest, copie_session: Copie) -> Path:
    return rendered_project(copie_session.copy(extra_answers=request.param))


def prefect(project: Path) -> bool:
    return bool(answer(project, "use_prefect"))


def tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    assert path.exists(), f"{name} is missing: uv sync --group test"
    return str(path)


def check(command: list[str], cwd: Path) -> str:
    completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, f"{shlex.join(command)}\n{completed.stdout}{completed.stderr}"
    return completed.stdout


@functools.cache
def make_env(python_version: str) -> dict[str, str]:
    return project_env(python_version)


def make(project: Path, *args: str) -> str:
    env = make_env(answer(project, "python_version"))
    completed = subprocess.run(
        ["make", *args], cwd=project, env=env, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, f"make {' '.join(args)}\n{completed.stderr}"
    return completed.stdout


# --- Dockerfile -----------------------------------------------------------------------------


def test_dockerfile_passes_hadolint(rendered: Path) -> None:
    check([tool("hadolint"), "--no-color", "Dockerfile"], rendered)


def test_images_run_the_commands_the_tests_run(rendered: Path) -> None:
    stages = dockerfile_stages((rendered / "Dockerfile").read_text())
    targets = {"api", "migrations"} | ({"worker"} if prefect(rendered) else set())
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
    assert removes_workers is prefect(rendered)

    pyproject = tomllib.loads((rendered / "pyproject.toml").read_text())
    assert not [dep for dep in pyproject["project"]["dependencies"] if "prefect" in dep]
    groups = pyproject["dependency-groups"]
    if prefect(rendered):
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


# --- Compose --------------------------------------------------------------------------------


def compose_files(project: Path) -> list[Path]:
    return sorted([*project.glob("docker-compose*.yml"), *project.glob("compose*.yaml")])


def test_compose_files_match_the_compose_spec(rendered: Path) -> None:
    files = compose_files(rendered)
    assert [path.name for path in files] == ["docker-compose.yml"]
    check(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", *map(str, files)],
        rendered,
    )


def test_the_compose_stack_runs_the_images_in_order(rendered: Path) -> None:
    compose = yaml.safe_load((rendered / "docker-compose.yml").read_text())
    services = compose["services"]
    expected = {"dbapp", "migrations", "api"}
    if prefect(rendered):
        expected |= {"prefect-server", "worker"}
    assert set(services) == expected

    for name in {"migrations", "api", "worker"} & expected:
        # The image's own command runs: the one the tests run (see above).
        assert services[name]["build"] == {"context": ".", "target": name}
        assert "command" not in services[name]
        assert "entrypoint" not in services[name]
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgresql+asyncpg://")
    dbapp = services["dbapp"]
    assert "healthcheck" in dbapp
    assert dbapp["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    assert services["migrations"]["depends_on"] == {"dbapp": {"condition": "service_healthy"}}
    assert services["migrations"]["restart"] == "no"
    done = {"condition": "service_completed_successfully"}
    assert services["api"]["depends_on"] == {"migrations": done}
    if prefect(rendered):
        server = services["prefect-server"]
        login = "${PREFECT_LOGIN_USER:-admin}:${PREFECT_LOGIN_PASSWORD:-change-me}"
        assert server["environment"]["PREFECT_SERVER_API_AUTH_STRING"] == login
        assert "healthcheck" in server
        worker = services["worker"]
        assert worker["environment"]["PREFECT_API_AUTH_STRING"] == login
        assert worker["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"
        assert worker["depends_on"] == {
            "migrations": done,
            "prefect-server": {"condition": "service_healthy"},
        }


def test_every_compose_variable_is_in_the_sample_environment(rendered: Path) -> None:
    used = set(
        re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", (rendered / "docker-compose.yml").read_text())
    )
    sample = (rendered / ".env.sample").read_text()
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", sample, re.MULTILINE))
    assert used
    assert used <= listed
    assert ("PREFECT_LOGIN_PASSWORD" in used) is prefect(rendered)


# --- Lock file ------------------------------------------------------------------------------


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


# --- GitHub Actions -------------------------------------------------------------------------


def workflow_files(project: Path) -> list[Path]:
    return sorted((project / ".github" / "workflows").glob("*.yml"))


def test_workflows_match_the_github_schema(rendered: Path) -> None:
    files = workflow_files(rendered)
    if not answer(rendered, "use_github_actions"):
        assert files == []
        return
    assert {path.name for path in files} == WORKFLOWS
    for schema in ("vendor.github-workflows", "custom.github-workflows-require-timeout"):
        check([tool("check-jsonschema"), "--builtin-schema", schema, *map(str, files)], rendered)


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
    check([tool("shellcheck"), "--shell=bash", *scripts], tmp_path)


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
    assert set(targets) == {"api", "migrations"} | ({"worker"} if prefect(rendered) else set())


# --- Makefile and README --------------------------------------------------------------------


def help_targets(project: Path) -> dict[str, str]:
    listed = {}
    for line in ANSI.sub("", make(project, "help")).splitlines():
        found = re.fullmatch(r"  ([\w-]+)\s+(.*)", line)
        if found:
            listed[found[1]] = found[2].strip()
    return listed


def test_make_help_lists_every_target_with_a_description(rendered: Path) -> None:
    makefile = (rendered / "Makefile").read_text()
    defined = set(re.findall(r"^([A-Za-z][\w-]*):(?!=)", makefile, re.MULTILINE))
    listed = help_targets(rendered)
    assert set(listed) == defined
    assert all(listed.values())
    assert defined >= MAKE_TARGETS
    assert (defined >= PREFECT_MAKE_TARGETS) is prefect(rendered)
    assert (defined.isdisjoint(PREFECT_MAKE_TARGETS)) is not prefect(rendered)


def test_make_dry_runs_every_target(rendered: Path) -> None:
    for target in help_targets(rendered):
        assert make(rendered, "-n", target).strip(), target


def test_make_finds_a_uv_that_pyenv_hides(rendered: Path, tmp_path: Path) -> None:
    """With uv installed by pip into another pyenv version, the `uv` shim fails inside the
    project (its .python-version names a version without uv); make uses that version's uv."""
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "uv").write_text("#!/bin/sh\necho 'pyenv: uv: command not found' >&2\nexit 127\n")
    (shims / "pyenv").write_text(
        '#!/bin/sh\ncase "$1" in whence) echo 3.11.7 ;; root) echo /opt/pyenv ;; esac\n'
    )
    for shim in shims.iterdir():
        shim.chmod(0o755)
    env = make_env(answer(rendered, "python_version"))
    env = {**env, "PATH": f"{shims}:{env['PATH']}"}
    completed = subprocess.run(
        ["make", "-n", "install", "test"],
        cwd=rendered,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    hidden = "/opt/pyenv/versions/3.11.7/bin/uv"
    assert completed.stdout.splitlines()[0] == f"{hidden} sync --compile-bytecode"
    assert completed.stdout.splitlines()[1].startswith(f"{hidden} run pytest")


def test_readme_make_commands_exist(rendered: Path) -> None:
    readme = (rendered / "README.md").read_text()
    shown = set(re.findall(r"(?:`|^|[A-Z_]+=\S+ )make ([a-z][\w-]*)", readme, re.MULTILINE))
    assert {"install", "docker-up", "check"} <= shown
    assert shown <= set(help_targets(rendered))


def test_project_tooling_files(rendered: Path) -> None:
    python_version = answer(rendered, "python_version")
    assert (rendered / ".python-version").read_text() == f"{python_version}\n"
    ignored = (rendered / ".gitignore").read_text().splitlines()
    assert {".env", ".venv/", "__pycache__/", "*.db"} <= set(ignored)
    assert "uv.lock" not in ignored

    hooks = yaml.safe_load((rendered / ".pre-commit-config.yaml").read_text())
    assert set(hooks["default_install_hook_types"]) == {"pre-commit", "commit-msg"}
    by_id = {hook["id"]: hook for repo in hooks["repos"] for hook in repo["hooks"]}
    assert by_id["ruff-check"]["entry"].startswith("uv run ruff check")
    assert by_id["ruff-format"]["entry"].startswith("uv run ruff format")
    assert by_id["conventional-pre-commit"]["stages"] == ["commit-msg"]
