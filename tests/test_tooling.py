"""T0: the project's tooling files in every variant: the Python version, what git ignores
(never uv.lock), and the pre-commit hooks (ruff, and Conventional Commit messages)."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.helpers import answer


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
