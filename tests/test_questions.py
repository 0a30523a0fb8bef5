"""copier.yml: derived defaults, and one clear message for each invalid answer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from copier.errors import UserMessageError
from pytest_copie.plugin import Copie

from extensions.context import NO_AUTHENTICATION
from tests.helpers import TEMPLATE_ROOT, rendered_project

COPIER = [sys.executable, "-m", "copier"]
QUESTIONS = {
    name: spec
    for name, spec in yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text()).items()
    if not name.startswith("_")
}


# The prompt shows a help as its question, its first line after "🎤 " (three columns): every
# line must fit an 80-column terminal, which would otherwise cut it.
TERMINAL = 80


def test_every_question_has_a_help_that_fits_the_prompt() -> None:
    for name, spec in QUESTIONS.items():
        first, *more = spec.get("help", "").strip().splitlines() or [""]
        assert first.endswith((".", "?", ")")), f"{name}: the first line is a sentence"
        assert len(first) <= TERMINAL - 3, f"{name}: {first!r} is cut at 80 columns"
        for line in more:
            assert len(line) <= TERMINAL, f"{name}: {line!r} is cut at 80 columns"
            assert line.startswith("   "), f"{name}: {line!r} is not under the first line"


def test_slug_is_derived_from_the_name(copie: Copie) -> None:
    project = rendered_project(copie.copy(extra_answers={"project_name": "Billing API (v2)!"}))
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["project_slug"] == "billing-api-v2"
    assert 'name = "billing-api-v2"' in (project / "pyproject.toml").read_text()


def test_author_defaults_come_from_git_config(
    copie: Copie, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\tname = Ada Lovelace\n\temail = ada@example.com\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    project = rendered_project(copie.copy())
    pyproject = (project / "pyproject.toml").read_text()
    assert 'authors = [{ name = "Ada Lovelace", email = "ada@example.com" }]' in pyproject


def test_without_clerk_api_keys_are_not_asked_and_stay_on(copie: Copie) -> None:
    project = rendered_project(copie.copy(extra_answers={"auth_clerk": False}))
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["auth_clerk"] is False
    assert "auth_api_keys" not in answers  # not asked, so not recorded: its default holds
    assert (project / "app" / "api" / "routes" / "api_keys.py").is_file()


def test_a_data_file_that_turns_every_method_off_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "answers.yml"
    data.write_text("auth_clerk: false\nauth_api_keys: false\n")
    refused = subprocess.run(
        [
            *COPIER,
            "copy",
            "--trust",
            "--defaults",
            "--vcs-ref",
            "HEAD",
            "--data-file",
            str(data),
            str(TEMPLATE_ROOT),
            str(tmp_path / "service"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode != 0
    assert "at least one authentication method must be on" in refused.stderr
    assert not (tmp_path / "service").exists()


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"project_name": ""}, "project_name must be 1 to 60 printable characters"),
        ({"project_name": "x" * 61}, "project_name must be 1 to 60 printable characters"),
        ({"project_slug": "My_Service"}, "project_slug must match"),
        ({"project_slug": "9lives"}, "project_slug must match"),
        ({"project_slug": "double--hyphen"}, "project_slug must match"),
        ({"author_email": "not-an-email"}, "author_email must be an e-mail address"),
        ({"author_name": "  "}, "author_name must not be empty"),
        (
            {"auth_clerk": False, "auth_api_keys": False},
            "at least one authentication method must be on",
        ),
        ({"python_version": "3.10"}, "python_version"),
        ({"license": "GPL"}, "license"),
    ],
)
def test_invalid_answers_are_rejected_with_their_message(
    copie: Copie, answers: dict[str, object], message: str
) -> None:
    result = copie.copy(extra_answers=answers)
    assert isinstance(result.exception, ValueError | UserMessageError)
    assert message in str(result.exception)
    assert result.project_dir is None


def test_the_render_refuses_what_the_validator_refuses() -> None:
    """Settings-file defaults skip validators; the extensions refuse the same, in the same words."""
    validator = QUESTIONS["auth_api_keys"]["validator"]
    assert NO_AUTHENTICATION in validator
