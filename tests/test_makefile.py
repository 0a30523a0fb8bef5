"""T0: the Makefile of every variant lists each target with a description in `make help`,
dry-runs every one, holds the seed design's commands, and is plain: no machine workarounds.
(That the README's make commands are targets: test_readme.py.)"""

from __future__ import annotations

import re
from pathlib import Path

from tests.documented import Makefile
from tests.helpers import answer, make

# The seed design's make commands, plus `check`, `serve` (the api image's command) and the API
# contract's `openapi` and `fuzz`.
MAKE_TARGETS = {
    "help", "install", "dev", "serve", "test", "test-cov", "lint", "format", "type-check",
    "check", "migrate", "migrate-create", "migrate-down", "migrate-history", "create-user",
    "clean", "clean-docker", "docker-build-all", "docker-up", "docker-logs", "docker-down",
    "openapi", "fuzz",
}  # fmt: skip
PREFECT_MAKE_TARGETS = {"init-prefect", "worker", "docker-up-prefect"}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def help_targets(project: Path) -> dict[str, str]:
    listed = {}
    for line in ANSI.sub("", make(project, "help")).splitlines():
        found = re.fullmatch(r"  ([\w-]+)\s+(.*)", line)
        if found:
            listed[found[1]] = found[2].strip()
    return listed


def test_make_help_lists_every_target_with_a_description(rendered: Path) -> None:
    makefile = Makefile.parse((rendered / "Makefile").read_text())
    defined = makefile.targets
    listed = help_targets(rendered)
    assert set(listed) == defined == makefile.described
    assert all(listed.values())
    assert defined >= MAKE_TARGETS
    assert (defined >= PREFECT_MAKE_TARGETS) is answer(rendered, "use_prefect")
    assert (defined.isdisjoint(PREFECT_MAKE_TARGETS)) is not answer(rendered, "use_prefect")


def test_make_dry_runs_every_target(rendered: Path) -> None:
    for target in help_targets(rendered):
        assert make(rendered, "-n", target).strip(), target


def test_the_makefile_is_plain(rendered: Path) -> None:
    """No machine workarounds: make runs `uv`, or the uv a user names once in UV (the README
    says when a pyenv user needs to), and leaves finding Python to uv (UV_PYTHON)."""
    makefile = (rendered / "Makefile").read_text()
    assert "pyenv" not in makefile
    assert "$(shell" not in makefile
    dry_run = make(rendered, "-n", "install", "test", "UV=/opt/tools/uv")
    assert dry_run.splitlines()[:3] == [
        "/opt/tools/uv sync",
        "test -f openapi.json || /opt/tools/uv run python -m app.scripts.openapi",
        "/opt/tools/uv run pytest",
    ]
