"""T0: the questions as a person answers them, in a terminal.

`copier copy` runs in a pseudo-terminal, and the test types what a person types: Enter to take
a default, `y` or `n` at a yes/no prompt, arrow keys in a list. Copier runs no validator for a
yes/no or a list prompt, so what is asked, and when, is what keeps an unsupported combination
out of reach: without Clerk, the API-key question is not asked and keys stay on. Each run then
checks what was rendered.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pexpect
import pytest
import yaml

from tests.helpers import QUESTIONS, TEMPLATE_ROOT

ENTER, UP, DOWN = "\r", "\x1b[A", "\x1b[B"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def first_line(name: str) -> str:
    return QUESTIONS[name]["help"].strip().splitlines()[0]


class Terminal:
    """`copier copy` of the working tree in an 80-column pseudo-terminal."""

    def __init__(self, destination: Path) -> None:
        env = {
            "HOME": os.environ.get("HOME", "/root"),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "TERM": "xterm-256color",
            "PROMPT_TOOLKIT_NO_CPR": "1",  # a pseudo-terminal answers no cursor queries
            "GIT_CONFIG_GLOBAL": os.devnull,
        }
        command = ["-m", "copier", "copy", "--trust", "--vcs-ref", "HEAD"]
        self.child = pexpect.spawn(
            sys.executable,
            [*command, str(TEMPLATE_ROOT), str(destination)],
            env=env,
            encoding="utf-8",
            dimensions=(50, 80),
            timeout=60,
        )
        self.asked: list[str] = []
        self.prompts = {first_line(name): name for name in QUESTIONS}
        self.pattern = "|".join(re.escape(line) for line in self.prompts)

    def next_question(self) -> str | None:
        """The question the terminal shows now, or None once Copier stops asking."""
        found = self.child.expect([self.pattern, "Copying from template", pexpect.EOF])
        if found != 0:
            return None
        name = self.prompts[self.child.after]
        self.asked.append(name)
        return name

    def type(self, keys: str) -> None:
        self.child.send(keys)
        # The prompt shows its question once more, with the answer: wait for it to close.
        self.child.expect(re.escape(first_line(self.asked[-1])))

    def finish(self) -> str:
        self.child.expect(pexpect.EOF, timeout=120)
        self.child.close()
        assert self.child.exitstatus == 0, ANSI.sub("", self.child.before or "")
        return ANSI.sub("", self.child.before or "")


def answer_all(destination: Path, keys_for: dict[str, str]) -> tuple[list[str], Path]:
    """Answer every question asked with its keys (Enter by default); the questions asked."""
    terminal = Terminal(destination)
    while (name := terminal.next_question()) is not None:
        terminal.type(keys_for.get(name, ENTER))
    terminal.finish()
    return terminal.asked, destination


def recorded(project: Path) -> dict[str, object]:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


def test_enter_at_every_prompt_renders_the_defaults(tmp_path: Path) -> None:
    asked, project = answer_all(tmp_path / "acme", {})
    assert asked == list(QUESTIONS), "every question, in copier.yml order"
    answers = recorded(project)
    for name, spec in QUESTIONS.items():
        if not str(spec["default"]).startswith("{{"):
            assert answers[name] == spec["default"], name
    assert (project / "app/api/routes/api_keys.py").is_file()
    assert (project / "app/api/routes/webhooks/clerk.py").is_file()


def test_no_to_clerk_asks_no_more_about_authentication_and_keeps_api_keys(
    tmp_path: Path,
) -> None:
    asked, project = answer_all(tmp_path / "acme", {"auth_clerk": "n", "auth_api_keys": "n"})
    assert "auth_api_keys" not in asked
    assert asked[asked.index("auth_clerk") + 1] == "use_prefect"
    answers = recorded(project)
    assert answers["auth_clerk"] is False
    assert "auth_api_keys" not in answers
    assert (project / "app/api/routes/api_keys.py").is_file()
    assert not (project / "app/api/routes/webhooks").exists()
    dependencies = (project / "app/api/dependencies.py").read_text()
    assert "X-API-Key" in dependencies or "api_key" in dependencies


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (
            {"python_version": UP + ENTER, "auth_api_keys": "n", "license": DOWN + DOWN + ENTER},
            {"python_version": "3.12", "auth_clerk": True, "auth_api_keys": False},
        ),
        (
            {"use_prefect": "n", "use_logfire": "y", "license": DOWN + ENTER},
            {"use_prefect": False, "use_logfire": True, "license": "Apache-2.0"},
        ),
    ],
    ids=["clerk-only-by-arrows", "yes-and-no"],
)
def test_arrow_keys_and_yes_no_reach_the_render(
    tmp_path: Path, keys: dict[str, str], expected: dict[str, object]
) -> None:
    _, project = answer_all(tmp_path / "acme", keys)
    answers = recorded(project)
    assert {name: answers[name] for name in expected} == expected
    if "python_version" in expected:
        assert (project / ".python-version").read_text().strip() == "3.12"
        assert not (project / "LICENSE").exists()  # Proprietary
        assert not (project / "app/api/routes/api_keys.py").exists()
