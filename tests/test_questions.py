"""copier.yml: derived defaults, and one clear message for each invalid answer."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pytest_copie.plugin import Copie

from tests.helpers import TEMPLATE_ROOT, rendered_project

QUESTIONS = {
    name: spec
    for name, spec in yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text()).items()
    if not name.startswith("_")
}


def test_every_question_has_a_one_sentence_help() -> None:
    for name, spec in QUESTIONS.items():
        assert spec.get("help", "").strip().endswith("."), name


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
    assert isinstance(result.exception, ValueError)
    assert message in str(result.exception)
    assert result.project_dir is None
