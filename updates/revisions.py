"""After every `copier update`, in the project: keep its revisions and bring its schema along.

1. Keep. A revision file of the last commit is history a database may have applied. The update
   removes an option's revisions when the option is turned off (the template no longer renders
   them); any revision it removed or changed is put back as committed.
2. Graft. A revision the update brought (an option turned on, or a release's own) starts from
   the project's heads, so it runs after everything the project already has, the team's own
   revisions included, and leaves no branch behind.
3. Sync. When the update touched the models, `make install migrate-sync` writes the revision
   the changed models need (an option turned off: the revision drops its tables or columns and
   says so), or nothing.

Run by copier.yml's `_migrations` with Copier's Python, in the project's directory.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from updates.history import (
    VERSIONS,
    committed_answers,
    committed_files,
    current_answers,
    graft,
    heads,
    make,
    parse,
    touched,
)

TEMPLATE = Path(__file__).resolve().parents[1]
# Changes under these paths may change the models, and so the schema.
MODEL_PATHS = ("app/domains/", "app/models.py", str(VERSIONS) + "/")


def keep(project: Path, committed: Mapping[str, bytes]) -> list[str]:
    """Put back every committed revision file the update removed or changed."""
    restored = []
    for name, content in committed.items():
        path = project / name
        if not path.is_file() or path.read_bytes() != content:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            restored.append(name)
        path.with_name(path.name + ".rej").unlink(missing_ok=True)
    return restored


def graft_arrivals(project: Path, committed: Mapping[str, bytes]) -> list[str]:
    """Start each revision the update brought from the heads the project had before it."""
    current = {
        str(path.relative_to(project)): path for path in sorted((project / VERSIONS).glob("*.py"))
    }
    revisions = {
        name: revision
        for name, path in current.items()
        if (revision := parse(name, path.read_text())) is not None
    }
    before = [revision for name, revision in revisions.items() if name in committed]
    arrived = [revision for name, revision in revisions.items() if name not in committed]
    if not before or not arrived:
        return []
    tips = heads(before)
    arrived_ids = {revision.revision for revision in arrived}
    grafted = []
    for revision in arrived:
        chained = any(parent in arrived_ids for parent in revision.parents)
        if chained or sorted(revision.parents) == tips:
            continue
        path = current[revision.path]
        path.write_text(graft(path.read_text(), tips))
        grafted.append(f"{revision.path} (now after {', '.join(tips)})")
    return grafted


def describe(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """The revision's message: the answers the update changed, else the template version.

    A question Copier did not ask (its `when` was false) has no recorded answer: its default.
    """
    questions = yaml.safe_load((TEMPLATE / "copier.yml").read_text())
    defaults = {
        name: spec["default"]
        for name, spec in questions.items()
        if isinstance(spec, dict) and isinstance(spec.get("default"), bool)
    }
    changed = [
        f"turn {'on' if value else 'off'} {name}"
        for name in sorted(defaults)
        if (value := after.get(name, defaults[name])) != before.get(name, defaults[name])
    ]
    if changed:
        return "copier update: " + ", ".join(changed)
    return f"copier update to {after.get('_commit', 'the newest template')}"


def sync(project: Path, message: str) -> int:
    return make(
        project,
        [["install"], ["migrate-sync", f"MESSAGE={message}"]],
        "the revision their model changes need is not written yet",
        # A failure here ends the update before its last step writes openapi.json.
        then=[["openapi"]],
    )


def main() -> int:
    project = Path.cwd()
    committed = committed_files(project, VERSIONS)
    for name in keep(project, committed):
        print(f"Kept {name}: a database may have applied it.")
    for line in graft_arrivals(project, committed):
        print(f"Grafted {line}.")
    if not touched(project, MODEL_PATHS):
        return 0
    return sync(project, describe(committed_answers(project), current_answers(project)))


if __name__ == "__main__":
    sys.exit(main())
