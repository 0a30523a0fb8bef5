"""The template's own GitHub workflow: valid against the workflow schema, and running every nox
tier, each T1 variant as a matrix job with PostgreSQL."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from typing import Any

import yaml

from tests.helpers import TEMPLATE_ROOT, t1_groups

WORKFLOWS = sorted((TEMPLATE_ROOT / ".github" / "workflows").glob("*.yml"))

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
    assert '--variant "${{ matrix.variant }}"' in commands(t1)
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
