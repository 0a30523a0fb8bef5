"""T0: every combination of the boolean options renders clean, or is refused with its message.

A clean render has no Jinja left, nothing of a disabled feature, passes `ruff check` and
`ruff format --check` with the project's own configuration, and compiles.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_copie.plugin import Copie

from tests.helpers import (
    all_boolean_combinations,
    answer,
    find_python,
    rejection,
    rendered_project,
    variant_id,
)

COMBINATIONS = list(all_boolean_combinations())
VALID = [answers for answers in COMBINATIONS if rejection(answers) is None]
INVALID = [answers for answers in COMBINATIONS if rejection(answers) is not None]

# A Jinja expression, statement or comment opener ("{{ name", "{% if", "{#"); Python's own
# braces ({**a, **b}, {{}} in f-strings) do not match.
JINJA_LEFTOVER = re.compile(r"\{\{-?\s*[A-Za-z_]|\{%-?\s*[a-z]|\{#")
TEXT_SUFFIXES = {
    ".py",
    ".toml",
    ".ini",
    ".md",
    ".yml",
    ".yaml",
    ".mako",
    ".tmpl",
    ".txt",
    ".cfg",
    "",
}

# What must not appear anywhere in a render when an option is off: (option, paths, words).
DISABLED_TRACES = {
    "auth_api_keys": (
        ["app/domains/api_keys", "app/api/routes/api_keys.py"],
        ["api_key", "X-API-Key"],
    ),
    "auth_clerk": (
        [
            "app/infrastructure/clerk.py",
            "app/domains/users/clerk.py",
            "app/api/routes/webhooks",
            "tests/support/clerk.py",
            "tests/api/webhooks",
            "tests/infrastructure/test_clerk_tokens.py",
        ],
        ["clerk", "svix", "jwks", "jwt", "bearer"],
    ),
    "use_prefect": (
        ["app/workers", "app/scripts/init_prefect.py", "tests/workers"],
        ["prefect", "worker", "init-prefect", "init_prefect", "work pool"],
    ),
    "use_logfire": ([], ["logfire"]),
    "use_github_actions": (
        [".github", "scripts", "tests/scripts/test_next_version.py"],
        ["next_version", "release candidate"],
    ),
}


@pytest.fixture(scope="module", params=VALID, ids=variant_id)
def rendered(request: pytest.FixtureRequest, copie_session: Copie) -> Path:
    return rendered_project(copie_session.copy(extra_answers=request.param))


def text_files(project: Path) -> list[Path]:
    return [
        path
        for path in project.rglob("*")
        if path.is_file() and path.suffix in TEXT_SUFFIXES and ".git" not in path.parts
    ]


def test_no_jinja_is_left(rendered: Path) -> None:
    leftovers = [
        str(path.relative_to(rendered))
        for path in text_files(rendered)
        if path.suffix != ".mako"
        and ".github" not in path.parts
        and JINJA_LEFTOVER.search(path.read_text())
    ]
    assert leftovers == []
    assert [p for p in rendered.rglob("*.jinja")] == []
    assert [p for p in rendered.rglob("*") if "{%" in p.name or "{{" in p.name] == []


def test_nothing_of_a_disabled_feature_remains(rendered: Path) -> None:
    answers = (rendered / ".copier-answers.yml").read_text()
    for option, (paths, words) in DISABLED_TRACES.items():
        if f"{option}: true" in answers:
            continue
        for relative in paths:
            assert not (rendered / relative).exists(), f"{option} is off but {relative} exists"
        for path in text_files(rendered):
            if path.name == ".copier-answers.yml":
                continue
            text = path.read_text().lower()
            for word in words:
                assert word.lower() not in text, f"{option} is off but {path} mentions {word}"


def test_ruff_is_clean(rendered: Path) -> None:
    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        completed = subprocess.run(
            [sys.executable, "-m", "ruff", *command],
            cwd=rendered,
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr


def test_python_compiles(rendered: Path) -> None:
    python = find_python(answer(rendered, "python_version"))
    assert python is not None, "no interpreter for the rendered project's Python version"
    completed = subprocess.run(
        [python, "-m", "compileall", "-q", "-f", "-x", r"[/\\]\.venv[/\\]", "."],
        cwd=rendered,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.parametrize("answers", INVALID, ids=variant_id)
def test_invalid_combinations_are_refused(copie: Copie, answers: dict[str, bool]) -> None:
    message = rejection(answers)
    assert message is not None
    result = copie.copy(extra_answers=answers)
    assert isinstance(result.exception, ValueError)
    assert message in str(result.exception)
    assert result.project_dir is None
