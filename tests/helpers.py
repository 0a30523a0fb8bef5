"""What the template tests share: the option matrix, rendering, and running a rendered project's
commands the way a user would (with uv and a Python 3.12/3.13 found like the Makefile finds it).

`python -m tests.helpers` prints the T1 groups as JSON (the template's CI builds its matrix
from it).
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from copier import run_copy

TEMPLATE_ROOT = Path(__file__).resolve().parents[1]

QUESTIONS: dict[str, dict[str, Any]] = {
    name: spec
    for name, spec in yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text()).items()
    if not name.startswith("_")
}

# Every asked yes/no question, in copier.yml order (the order copier validates them in).
BOOLEAN_OPTIONS = tuple(
    name
    for name, spec in QUESTIONS.items()
    if spec.get("type") == "bool" and spec.get("when", True) is not False
)

# Questions with a fixed list of answers: each answer other than the default gets a T0 render.
CHOICE_OPTIONS = {
    name: [str(choice) for choice in spec["choices"]]
    for name, spec in QUESTIONS.items()
    if spec.get("choices") and spec.get("when", True) is not False
}


# Alembic revisions the template renders: a plain name (every answer), or `{% if OPTION %}name{%
# endif %}` (only with OPTION on, its owner). The owners are the options that change the schema.
TEMPLATE_VERSIONS = TEMPLATE_ROOT / "template" / "migrations" / "versions"
OWNED_REVISION = re.compile(r"\{% if (\w+) %\}([\w.]+)\{% endif %\}")


def revision_owners() -> dict[str, str | None]:
    """Each template revision file's name, and the option that owns it (None: every answer)."""
    owners: dict[str, str | None] = {}
    for path in sorted(TEMPLATE_VERSIONS.iterdir()):
        match = OWNED_REVISION.fullmatch(path.name)
        owners[path.name] = match.group(1) if match else None
    return owners


# The yes/no questions that change the schema: those owning a revision (T0 checks that every
# question changing a models file owns one).
SCHEMA_OPTIONS = tuple(sorted({owner for owner in revision_owners().values() if owner}))


# Environment variables that nox (uv backend) and an activated virtualenv export. Left in
# place, `uv` inside a rendered project would install into the test runner's environment.
# A container's PYTHONDONTWRITEBYTECODE goes too: a user's shell lets Python cache bytecode,
# and without it every process of a rendered project would compile its imports again.
_LEAKY_VARIABLES = (
    "VIRTUAL_ENV",
    "UV_PROJECT_ENVIRONMENT",
    "UV_PYTHON",
    "CONDA_PREFIX",
    "PYTHONDONTWRITEBYTECODE",
)


# T1: the variants whose rendered project runs its full `make check` (SQLite and PostgreSQL).
# Keyed by a readable id; answers not listed take their defaults.
REPRESENTATIVE_VARIANTS: dict[str, dict[str, Any]] = {
    "api-keys-only": {
        "auth_clerk": False,
        "auth_api_keys": True,
        "use_prefect": False,
        "use_logfire": False,
    },
    "clerk-only": {
        "auth_clerk": True,
        "auth_api_keys": False,
        "use_prefect": False,
        "use_logfire": False,
    },
    "all-on": {
        "auth_clerk": True,
        "auth_api_keys": True,
        "use_prefect": True,
        "use_logfire": True,
        "use_github_actions": True,
    },
    "api-keys-and-prefect": {
        "auth_clerk": False,
        "auth_api_keys": True,
        "use_prefect": True,
        "use_logfire": False,
    },
}

# T1 tests that are not about one representative variant (the quick-start project) form
# this group; `pytest --variant default` runs them.
DEFAULT_GROUP = "default"
# What the rendered CI's check job runs, in order, on PostgreSQL (after installing from uv.lock).
CI_MAKE_TARGETS = ("lint", "format-check", "type-check", "test-cov", "fuzz", "migrate-check")


def t1_groups() -> list[str]:
    """What `pytest --variant` accepts: one CI job each."""
    return [*sorted(REPRESENTATIVE_VARIANTS), DEFAULT_GROUP]


def variant_params() -> list[Any]:
    """REPRESENTATIVE_VARIANTS as fixture params: each marked with its variant, so that
    `--variant` selects it and pytest-xdist keeps its tests (and its render) on one worker."""
    return [
        pytest.param(
            name,
            id=name,
            marks=[pytest.mark.variant(name), pytest.mark.xdist_group(f"t1-{name}")],
        )
        for name in sorted(REPRESENTATIVE_VARIANTS)
    ]


def rejection(answers: Mapping[str, Any]) -> str | None:
    """The message expected for a combination that must be refused, or None when it renders."""
    if not (answers.get("auth_clerk") or answers.get("auth_api_keys")):
        return "at least one authentication method must be on"
    return None


def all_boolean_combinations() -> Iterator[dict[str, bool]]:
    for values in itertools.product((False, True), repeat=len(BOOLEAN_OPTIONS)):
        yield dict(zip(BOOLEAN_OPTIONS, values, strict=True))


def boolean_defaults() -> dict[str, bool]:
    return {name: bool(QUESTIONS[name].get("default", False)) for name in BOOLEAN_OPTIONS}


def choice_variants() -> Iterator[dict[str, Any]]:
    """One answer set per non-default choice, the yes/no questions at their defaults."""
    for name, choices in CHOICE_OPTIONS.items():
        for choice in choices:
            if choice != str(QUESTIONS[name].get("default")):
                yield {**boolean_defaults(), name: choice}


def t0_variants() -> list[dict[str, Any]]:
    """T0: every valid combination of the yes/no questions, plus each non-default choice."""
    every = [*all_boolean_combinations(), *choice_variants()]
    return [answers for answers in every if rejection(answers) is None]


def variant_id(answers: Mapping[str, Any]) -> str:
    """`auth_api_keys+use_prefect` (the options on; `all-off`), or `license=Apache-2.0`."""
    choices = {name: value for name, value in answers.items() if name in CHOICE_OPTIONS}
    if choices:
        return ",".join(f"{name}={value}" for name, value in choices.items())
    on = [name for name in BOOLEAN_OPTIONS if answers.get(name)]
    return "+".join(on) or "all-off"


def render(destination: Path, answers: Mapping[str, Any] | None = None, **kwargs: Any) -> Path:
    """Render the working tree (uncommitted changes included) into `destination`."""
    run_copy(
        str(TEMPLATE_ROOT),
        str(destination),
        data=dict(answers or {}),
        defaults=True,
        unsafe=True,
        vcs_ref="HEAD",
        quiet=True,
        **kwargs,
    )
    return destination


def rendered_project(result: Any) -> Path:
    """The directory of a successful pytest-copie render (its error otherwise)."""
    if result.exception is not None or result.project_dir is None:
        raise AssertionError(f"the render failed: {result.exception!r}") from result.exception
    return Path(result.project_dir)


def answer(project: Path, question: str) -> Any:
    """One answer of a rendered project: recorded in `.copier-answers.yml`, or, for a question
    its `when` did not ask (Copier records none), the default it took."""
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    if question not in answers and "when" in QUESTIONS[question]:
        return QUESTIONS[question]["default"]
    return answers[question]


def uv_binary() -> str:
    """A real uv executable (a pyenv shim would pick the rendered project's Python and fail)."""
    if explicit := os.environ.get("UV"):
        return explicit
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except ImportError:
        found = shutil.which("uv")
        if found is None:
            raise RuntimeError("uv is not installed: pip install uv") from None
        return found


@functools.cache
def find_python(version: str) -> str | None:
    """An interpreter for `version`: on PATH, managed by uv, or installed by pyenv.

    Each candidate is asked for its own path: a pyenv shim runs the version that the current
    directory's `.python-version` names, so it is not kept for processes run elsewhere."""
    for candidate in _python_candidates(version):
        if executable := _interpreter(candidate, version):
            return executable
    return None


def _python_candidates(version: str) -> Iterator[str]:
    if on_path := shutil.which(f"python{version}"):
        yield on_path
    found = subprocess.run(
        [uv_binary(), "python", "find", "--no-python-downloads", version],
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode == 0 and found.stdout.strip():
        yield found.stdout.strip()
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    installs = sorted(
        Path(pyenv_root, "versions").glob(f"{version}*/bin/python{version}"),
        key=lambda path: [int(part) for part in re.findall(r"\d+", path.parent.parent.name)],
    )
    yield from (str(path) for path in reversed(installs))


def _interpreter(candidate: str, version: str) -> str | None:
    """The real path of `candidate` when it runs Python `version`, else None."""
    code = "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2])"
    try:
        completed = subprocess.run(
            [candidate, "-c", code], capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = completed.stdout.splitlines()
    if completed.returncode != 0 or len(lines) != 2 or lines[1] != version:
        return None
    return lines[0]


def project_env(python_version: str, **extra: str) -> dict[str, str]:
    """The environment a user's shell would give `make` inside a rendered project."""
    env = {key: value for key, value in os.environ.items() if key not in _LEAKY_VARIABLES}
    uv = uv_binary()
    env["PATH"] = os.pathsep.join([str(Path(uv).parent), env.get("PATH", "")])
    python = find_python(python_version)
    if python is None:
        raise RuntimeError(f"no Python {python_version} found on PATH, by uv or under pyenv")
    env["UV_PYTHON"] = python
    env.setdefault("UV_LINK_MODE", "copy")
    env.update(extra)
    return env


def run(
    command: list[str], cwd: Path, env: Mapping[str, str], timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure, raise with its output so the test report shows why."""
    completed = subprocess.run(
        command,
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {completed.returncode} in {cwd}\n"
            f"--- stdout ---\n{completed.stdout[-20000:]}\n"
            f"--- stderr ---\n{completed.stderr[-20000:]}"
        )
    return completed


if __name__ == "__main__":
    print(json.dumps(t1_groups()))


def tool(name: str) -> str:
    """A command-line tool of the test environment (hadolint, shellcheck, check-jsonschema)."""
    path = Path(sys.executable).parent / name
    assert path.exists(), f"{name} is missing: uv sync --group test"
    return str(path)


def check_jsonschema(*args: str | Path) -> None:
    """check-jsonschema's command line, run in this process: its start (about a second of
    imports) would otherwise be paid by each of the hundred-odd checks of a T0 run."""
    from check_jsonschema.cli.main_command import main
    from click.testing import CliRunner

    result = CliRunner().invoke(main, [str(arg) for arg in args])
    assert result.exit_code == 0, f"check-jsonschema {' '.join(map(str, args))}:\n{result.output}"


def make(project: Path, *args: str) -> str:
    """`make ARGS` in a rendered project, as a user runs it; its standard output."""
    return run(["make", *args], project, project_env(answer(project, "python_version"))).stdout


# A `uses:` line of a workflow: the reference, then the rest of the line (its comment).
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)(?P<rest>.*)$")
# Another repository's action or workflow at a full commit SHA, and the version it is.
PINNED_REF = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")
VERSION_COMMENT = re.compile(r"\s+# v\d+(\.\d+)*\s*")
# Actions and workflows of the same repository, which need no pin.
LOCAL_REF = ("./", "$/")


def _uses_values(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["uses"]] if isinstance(node.get("uses"), str) else []
        return own + [found for value in node.values() for found in _uses_values(value)]
    if isinstance(node, list):
        return [found for value in node for found in _uses_values(value)]
    return []


def unpinned_uses(workflow: Path) -> list[str]:
    """The `uses:` of a workflow naming another repository's action or workflow by anything but
    a full commit SHA followed by its version (`owner/action@<40 hex> # v1.2.3`)."""
    text = workflow.read_text()
    lines = [match for line in text.splitlines() if (match := USES_LINE.match(line))]
    # Every `uses` YAML reads is on a line of its own: none escapes the check.
    assert sorted(match["ref"] for match in lines) == sorted(_uses_values(yaml.safe_load(text))), (
        f"{workflow.name}: a `uses:` that is not on a line of its own"
    )
    return [
        f"{workflow.name}: {match.group(0).strip()}"
        for match in lines
        if not match["ref"].startswith(LOCAL_REF)
        and not (PINNED_REF.fullmatch(match["ref"]) and VERSION_COMMENT.fullmatch(match["rest"]))
    ]


def zizmor(root: Path) -> None:
    """zizmor's audits (regular persona, offline) of the `.github` directory of `root`: its
    workflows and dependabot.yml. Any finding fails, with zizmor's report of it."""
    run(
        [
            tool("zizmor"),
            "--offline",
            "--persona=regular",
            "--no-progress",
            "--color=never",
            ".github",
        ],
        root,
        os.environ,
    )


def dependabot_updates(config: Path) -> dict[str, dict[str, Any]]:
    """The updates of a dependabot.yml valid against Dependabot's schema, by ecosystem."""
    check_jsonschema("--builtin-schema", "vendor.dependabot", config)
    return {
        update["package-ecosystem"]: update
        for update in yaml.safe_load(config.read_text())["updates"]
    }


def dependabot_problems(updates: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What departs from the policy: each ecosystem checked weekly, its updates in one group,
    versions at least a week old (cooldown), a bound on the open pull requests."""
    problems = []
    for ecosystem, update in updates.items():
        if update["schedule"]["interval"] != "weekly":
            problems.append(f"{ecosystem}: not weekly")
        if [group.get("patterns") for group in update.get("groups", {}).values()] != [["*"]]:
            problems.append(f"{ecosystem}: not one group of every update")
        if update.get("cooldown", {}).get("default-days", 0) < 7:
            problems.append(f"{ecosystem}: a cooldown under 7 days")
        if not 0 < update.get("open-pull-requests-limit", 0) <= 10:
            problems.append(f"{ecosystem}: no open-pull-requests-limit between 1 and 10")
    return problems
