"""From a project rendered before 0.2.0 to 0.2.0: run by `copier update` (copier.yml).

Two things changed in 0.2.0 that a project made earlier needs carried across:

- Its revision 0001 created the tables and columns of every option that was on (users.clerk_id
  with Clerk, the api_keys table with API keys). From 0.2.0, each option brings them in a
  revision of its own (`clerk_0001`, `api_keys_0001`). `before` writes, for each option 0001
  already covered, that revision as a no-op under the template's file name, so the update keeps
  it (migrations/versions/*.py are skip-if-exists) and later revisions of the option find it.
- Its domain generator registered new domains on the template's own lines of app/api/router.py
  and app/models.py, which an answer change rewrites. `before` takes those registrations out
  (staged, so that Copier compares the files with the template alone), and `after` writes them
  again in the blocks the 0.2.0 files keep for added domains.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from updates.history import VERSIONS, git

TEMPLATE_VERSIONS = Path(__file__).resolve().parents[1] / "template" / VERSIONS
ROUTER = Path("app/api/router.py")
MODELS = Path("app/models.py")
SHIPPED_ROUTES = {"api_keys", "health", "users"}
SHIPPED_DOMAINS = {"api_keys", "base", "users"}
SPLIT = "# isort: split"
LINE_LENGTH = 100
# What the 0.1.0 revision 0001 creates for each option that has a revision of its own now.
COVERED_BY = {"clerk_0001": '"clerk_id"', "api_keys_0001": '"api_keys"'}

STUB = '''"""{title}: created by revision 0001 in this project.

Revision ID: {revision}
Revises: 0001
Create Date: 2025-01-01 00:00:00

The project was rendered before version 0.2.0 of the template, whose revision 0001 created the
tables and columns of every option that was on. The template's `{revision}` has nothing left to
do here; it keeps its identifier so that the option's later revisions find their place.
"""

from collections.abc import Sequence

revision: str = "{revision}"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to do: revision 0001 did it."""


def downgrade() -> None:
    """Nothing to undo: revision 0001 does it."""
'''


def template_revision_file(revision: str) -> tuple[str, str]:
    """The file name the template renders for `revision`, and its title line."""
    for path in TEMPLATE_VERSIONS.iterdir():
        name = re.sub(r"\{%.*?%\}", "", path.name)
        if name.startswith(f"{revision}_"):
            return name, path.read_text().split("\n", 1)[0].strip('"').split(":")[0]
    raise LookupError(f"the template has no revision {revision}")


def adopt_revisions(project: Path) -> list[str]:
    initial = project / VERSIONS / "0001_initial.py"
    if not initial.is_file():
        return []
    text = initial.read_text()
    written = []
    for revision, marker in COVERED_BY.items():
        name, title = template_revision_file(revision)
        path = project / VERSIONS / name
        if marker in text and not path.exists():
            path.write_text(STUB.format(title=title, revision=revision))
            written.append(str(path.relative_to(project)))
    return written


def remove_registrations(project: Path) -> dict[str, list[str]]:
    """Take the added domains out of the 0.1.0 router and model registry; what was taken."""
    taken: dict[str, list[str]] = {"routes": [], "models": []}
    router = project / ROUTER
    if router.is_file():
        lines = router.read_text().splitlines(keepends=True)
        tree = ast.parse("".join(lines))
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module == "app.api.routes":
                names = [alias.name for alias in node.names]
                taken["routes"] = [name for name in names if name not in SHIPPED_ROUTES]
                kept = ", ".join(name for name in names if name in SHIPPED_ROUTES)
                end = node.end_lineno or node.lineno
                lines[node.lineno - 1 : end] = [f"from app.api.routes import {kept}\n"]
                break
        entries = {f"{name}.router," for name in taken["routes"]}
        router.write_text("".join(line for line in lines if line.strip() not in entries))
    models = project / MODELS
    if models.is_file():
        lines = models.read_text().splitlines(keepends=True)
        drop: set[int] = set()
        for node in ast.parse("".join(lines)).body:
            module = node.module if isinstance(node, ast.ImportFrom) else None
            parts = (module or "").split(".")
            added = len(parts) == 4 and parts[:2] == ["app", "domains"] and parts[3] == "models"
            if added and parts[2] not in SHIPPED_DOMAINS:
                taken["models"] += [f"{module}:{alias.name}" for alias in node.names]
                drop.update(range(node.lineno - 1, node.end_lineno or node.lineno))
        exported = {f'"{entry.split(":")[1]}",' for entry in taken["models"]}
        models.write_text(
            "".join(
                line
                for number, line in enumerate(lines)
                if number not in drop and line.strip() not in exported
            )
        )
    present = [str(path) for path in (ROUTER, MODELS) if (project / path).is_file()]
    if present:
        git(project, "add", "--", *present)
    return taken


def restore_registrations(project: Path, taken: dict[str, list[str]]) -> None:
    """Write the taken registrations into the blocks for added domains of the 0.2.0 files."""
    if routes := sorted(taken["routes"]):
        router = project / ROUTER
        statement = f"from app.api.routes import {', '.join(routes)}"
        if len(statement) > LINE_LENGTH:  # as ruff formats it
            statement = (
                "from app.api.routes import (\n"
                + "".join(f"    {name},\n" for name in routes)
                + ")"
            )
        text = _after_block(router.read_text(), [statement])
        closing = text.index("\n):\n", text.index("for router in ("))
        entries = "".join(f"\n    {name}.router," for name in taken["routes"])
        router.write_text(text[:closing] + entries + text[closing:])
    if taken["models"]:
        models = project / MODELS
        statements = []
        for entry in sorted(taken["models"]):
            module, name = entry.split(":")
            statements.append(f"from {module} import {name} as {name}")
        models.write_text(_after_block(models.read_text(), statements))


def _after_block(text: str, statements: list[str]) -> str:
    """`text` with `statements` below the comments that follow its `# isort: split` line."""
    lines = text.splitlines(keepends=True)
    at = next(number for number, line in enumerate(lines) if line.strip() == SPLIT) + 1
    while at < len(lines) and lines[at].lstrip().startswith("#"):
        at += 1
    lines[at:at] = [f"{statement}\n" for statement in statements]
    return "".join(lines)


def stash(project: Path) -> Path:
    return Path(git(project, "rev-parse", "--absolute-git-dir").strip()) / "copier-v0.2.0.json"


def main(stage: str) -> int:
    project = Path.cwd()
    if stage == "before":
        for name in adopt_revisions(project):
            print(f"Wrote {name}: revision 0001 already created what it would.")
        taken = remove_registrations(project)
        stash(project).write_text(json.dumps(taken))
    else:
        saved = stash(project)
        if saved.is_file():
            taken = json.loads(saved.read_text())
            restore_registrations(project, taken)
            saved.unlink()
            for name in [*taken["routes"], *taken["models"]]:
                print(f"Moved the registration of {name} to the block for added domains.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
