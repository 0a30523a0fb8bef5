"""A project's Alembic revisions as files: read, compared with the last commit, and grafted.

Used by the scripts that `copier update` runs in the project (copier.yml, `_migrations`), with
Copier's own Python: the standard library and PyYAML only, never the project's environment.
A revision file is read with `ast`: its module-level `revision` and `down_revision`.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

VERSIONS = Path("migrations/versions")
ANSWERS = Path(".copier-answers.yml")
DOWN_REVISION = re.compile(r"^(down_revision\b[^=\n]*=[ \t]*)(\([^)]*\)|[^\n]+)$", re.MULTILINE)
REVISES = re.compile(r"^Revises:.*$", re.MULTILINE)
LINE_LENGTH = 100  # the rendered project's ruff line length


@dataclass(frozen=True)
class Revision:
    path: str
    revision: str
    parents: tuple[str, ...]


def parse(path: str, source: str) -> Revision | None:
    """The revision a file declares, or None for a file that is not one."""
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError:
        return None
    values: dict[str, Any] = {}
    for node in tree.body:
        target, value = _assignment(node)
        if target in {"revision", "down_revision"} and value is not None:
            try:
                values[target] = ast.literal_eval(value)
            except ValueError:
                return None
    revision, down = values.get("revision"), values.get("down_revision")
    if not isinstance(revision, str):
        return None
    parents = (down,) if isinstance(down, str) else tuple(down or ())
    return Revision(path, revision, parents)


def _assignment(node: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id, node.value
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        if isinstance(target, ast.Name):
            return target.id, node.value
    return None, None


def heads(revisions: Iterable[Revision]) -> list[str]:
    """Revisions no other revision names as its parent, sorted."""
    listed = list(revisions)
    parents = {parent for revision in listed for parent in revision.parents}
    return sorted(revision.revision for revision in listed if revision.revision not in parents)


def graft(source: str, parents: list[str]) -> str:
    """A revision file's text with `parents` as its down_revision (and its `Revises:` line),
    formatted as ruff formats it."""

    def value(match: re.Match[str]) -> str:
        quoted = [json.dumps(parent) for parent in parents]
        if len(quoted) == 1:
            return match.group(1) + quoted[0]
        one_line = f"{match.group(1)}({', '.join(quoted)})"
        if len(one_line) <= LINE_LENGTH:
            return one_line
        return match.group(1) + "(\n" + "".join(f"    {item},\n" for item in quoted) + ")"

    grafted, count = DOWN_REVISION.subn(value, source, count=1)
    if count != 1:
        raise ValueError("no `down_revision = ...` line")
    return REVISES.sub(f"Revises: {', '.join(parents)}", grafted, count=1)


def git(project: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", *args], cwd=project, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {completed.stderr.strip()}")
    return completed.stdout


def changed_files(project: Path) -> list[str]:
    """The files the update changed or added (against the last commit)."""
    changed = git(project, "diff", "--name-only", "--relative", "HEAD").splitlines()
    untracked = git(project, "ls-files", "--others", "--exclude-standard").splitlines()
    return changed + untracked


def touched(project: Path, prefixes: tuple[str, ...]) -> bool:
    """Whether the update changed (or added) a file under one of `prefixes`."""
    return any(name.startswith(prefixes) for name in changed_files(project))


# A conflict Copier (git) left: its three markers, in order, each at the start of a line.
CONFLICT = re.compile(r"^<<<<<<< .*?^=======$.*?^>>>>>>> ", re.MULTILINE | re.DOTALL)


def conflicts(project: Path) -> list[str]:
    """The files the update left for the team to merge: with conflict markers, or `.rej`."""
    found = []
    for name in changed_files(project):
        path = project / name
        if name.endswith(".rej"):
            found.append(name)
        elif path.is_file():
            with contextlib.suppress(UnicodeDecodeError, OSError):
                if CONFLICT.search(path.read_text(encoding="utf-8")):
                    found.append(name)
    return sorted(found)


def finish_later(steps: Sequence[Sequence[str]], unfinished: str, reason: str) -> str:
    """The line saying what is `unfinished`, why, and the one command that finishes it."""
    command = shlex.join(["make", *(part for step in steps for part in step)])
    return f"The files are updated, but {unfinished}: {reason}, then run `{command}`."


def make(
    project: Path,
    steps: Sequence[Sequence[str]],
    unfinished: str,
    *,
    then: Sequence[Sequence[str]] = (),
) -> int:
    """`make <step>` in the project for each step, echoed, until one fails; then say what is
    `unfinished` and the command that finishes it (`steps` and the later update steps `then`,
    which a failure skips), and return its status (0 when all ran).

    With conflicts left to merge nothing runs (the code may not even import): the line names
    them and the command, and the status is 0, so Copier ends the update as usual."""
    finish = [*steps, *then]
    if pending := conflicts(project):
        reason = f"first resolve the conflicts in {', '.join(pending)}"
        print(finish_later(finish, unfinished, reason), file=sys.stderr)
        return 0
    for step in steps:
        command = ["make", *step]
        print(f"$ {shlex.join(command)}", flush=True)
        try:
            status = subprocess.run(command, cwd=project, check=False).returncode
        except OSError as error:
            print(f"make: {error}", file=sys.stderr)
            status = 127
        if status != 0:
            print(finish_later(finish, unfinished, "fix the error above"), file=sys.stderr)
            return status
    return 0


def committed_files(project: Path, directory: Path) -> dict[str, bytes]:
    """The files of `directory` in the last commit (the project before the update)."""
    listed = git(project, "ls-tree", "-r", "-z", "--name-only", "HEAD", "--", str(directory))
    return {
        name: subprocess.run(
            ["git", "show", f"HEAD:./{name}"], cwd=project, capture_output=True, check=True
        ).stdout
        for name in filter(None, listed.split("\0"))
        if name.endswith(".py")
    }


def committed_answers(project: Path) -> Mapping[str, Any]:
    return yaml.safe_load(git(project, "show", f"HEAD:./{ANSWERS}")) or {}


def current_answers(project: Path) -> Mapping[str, Any]:
    return yaml.safe_load((project / ANSWERS).read_text()) or {}
