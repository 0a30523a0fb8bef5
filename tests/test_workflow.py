"""The template's own GitHub workflow: valid against the workflow schema, running every nox
tier, each T1 variant as a matrix job with PostgreSQL, its actions pinned by commit and nothing
for zizmor to report; Dependabot keeps the actions and the locked dependencies up to date."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import (
    TEMPLATE_ROOT,
    USES_LINE,
    dependabot_problems,
    dependabot_updates,
    t1_groups,
    unpinned_uses,
    zizmor,
)

WORKFLOWS = sorted((TEMPLATE_ROOT / ".github" / "workflows").glob("*.yml"))
RENDERED_WORKFLOWS = sorted((TEMPLATE_ROOT / "template").glob("*/workflows/*.yml*"))

# Sessions CI does not run, and why.
NOT_IN_CI = {
    "tests": "runs the tiers that CI runs as separate jobs",
    "demo": "serves the demo until stopped",
    "bench": "timings need a quiet machine",
}


def nox_sessions() -> set[str]:
    tree = ast.parse((TEMPLATE_ROOT / "noxfile.py").read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any("session" in ast.unparse(decorator) for decorator in node.decorator_list)
    }


def jobs() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in WORKFLOWS:
        found.update(yaml.safe_load(path.read_text())["jobs"])
    return found


def commands(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job.get("steps", []))


def test_workflows_match_the_github_schema() -> None:
    assert WORKFLOWS, "no workflow in .github/workflows"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, WORKFLOWS),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_every_nox_session_runs_in_ci() -> None:
    ran = "\n".join(commands(job) for job in jobs().values())
    missing = [
        name for name in sorted(nox_sessions() - set(NOT_IN_CI)) if f"nox -s {name}" not in ran
    ]
    assert missing == []


def test_each_t1_variant_is_a_job_with_postgresql() -> None:
    [t1] = [job for job in jobs().values() if "nox -s t1" in commands(job)]
    assert t1["strategy"]["matrix"]["variant"] == "${{ fromJSON(needs.variants.outputs.groups) }}"
    assert "python -m tests.helpers" in commands(jobs()[t1["needs"]])
    [step] = [step for step in t1["steps"] if "nox -s t1" in step.get("run", "")]
    assert '--variant "$VARIANT"' in step["run"]
    assert step["env"]["VARIANT"] == "${{ matrix.variant }}"
    assert t1["services"]["postgres"]["image"].startswith("postgres:")
    assert t1["env"]["TEST_DATABASE_URL"].startswith("postgresql+asyncpg://")


def test_t2_sees_the_release_tags() -> None:
    [t2] = [job for job in jobs().values() if "nox -s t2" in commands(job)]
    [checkout] = [
        step for step in t2["steps"] if step.get("uses", "").startswith("actions/checkout")
    ]
    assert checkout["with"]["fetch-depth"] == 0


def test_the_matrix_lists_every_t1_group() -> None:
    """The `variants` job prints what `--variant` accepts (every T1 test is in one group)."""
    printed = subprocess.run(
        [sys.executable, "-m", "tests.helpers"],
        cwd=TEMPLATE_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(printed) == t1_groups()


def test_actions_are_pinned_by_commit() -> None:
    assert [line for path in WORKFLOWS for line in unpinned_uses(path)] == []


def test_jobs_only_read() -> None:
    for path in WORKFLOWS:
        assert yaml.safe_load(path.read_text())["permissions"] == {}, path.name
    assert {name: job.get("permissions") for name, job in jobs().items()} == {
        name: {"contents": "read"} for name in jobs()
    }


def test_zizmor_finds_nothing() -> None:
    zizmor(TEMPLATE_ROOT)


def test_dependabot_updates_the_actions_and_the_lock_file() -> None:
    updates = dependabot_updates(TEMPLATE_ROOT / ".github" / "dependabot.yml")
    assert set(updates) == {"uv", "github-actions"}
    assert dependabot_problems(updates) == []
    assert updates["uv"]["directory"] == "/"
    assert (TEMPLATE_ROOT / "uv.lock").is_file()


def pins(paths: list[Path]) -> dict[str, set[str]]:
    """Each action the workflows use, and the pins (reference and comment) they give it."""
    found: dict[str, set[str]] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            if (match := USES_LINE.match(line)) and "@" in match["ref"]:
                action, _ = match["ref"].split("@", 1)
                found.setdefault(action, set()).add(match.group(0).split("uses:", 1)[1].strip())
    return found


def test_rendered_workflows_pin_shared_actions_as_the_template_does() -> None:
    """Dependabot does not see the workflows under template/: when it moves an action of this
    repository's workflow, the rendered workflows' pin of that action must follow."""
    assert RENDERED_WORKFLOWS
    ours, rendered = pins(WORKFLOWS), pins(RENDERED_WORKFLOWS)
    assert [action for action, pinned in ours.items() if len(pinned) > 1] == []
    shared = sorted(set(ours) & set(rendered))
    assert shared
    assert {action: rendered[action] for action in shared} == {
        action: ours[action] for action in shared
    }
