"""Reading the rendered Dockerfile, and rebuilding an image's files without a Docker engine.

`dockerfile_stages` parses the stages; `ImageEmulator` replays a target's steps on the local
machine: the `uv sync` of each stage (same flags and ENV, on the project's pyproject.toml and
uv.lock), its COPY steps (from the build context or another stage) and its `rm` steps, into a
directory that stands for the image's WORKDIR and a virtual environment that stands for /opt/venv.
`ImageEmulator.environment` is the image's ENV, pointed at that environment.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import run

WORKDIR = "/srv"
VENV = "/opt/venv"


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def dockerfile_stages(text: str) -> dict[str, Stage]:
    """Stages by name, each with its instructions (continuation lines joined)."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: dict[str, Stage] = {}
    stage: Stage | None = None
    for line in logical:
        keyword, _, arguments = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            found = re.fullmatch(r"(\S+)\s+AS\s+(\S+)", arguments.strip(), re.IGNORECASE)
            if found is None:
                raise AssertionError(f"every stage is named: {line}")
            stage = stages[found[2]] = Stage(found[2], found[1])
        elif stage is not None:
            stage.instructions.append((keyword.upper(), " ".join(arguments.split())))
    return stages


def lineage(stages: dict[str, Stage], name: str) -> list[Stage]:
    """The stage and the stages it is built on, nearest first."""
    chain = [stages[name]]
    while chain[-1].base in stages:
        chain.append(stages[chain[-1].base])
    return chain


def instructions(stages: dict[str, Stage], name: str, keyword: str) -> list[str]:
    """The arguments of every `keyword` instruction of a stage and its bases, nearest first."""
    return [
        args for stage in lineage(stages, name) for kw, args in stage.instructions if kw == keyword
    ]


def image_command(stages: dict[str, Stage], name: str) -> list[str]:
    commands = instructions(stages, name, "CMD")
    if not commands:
        raise AssertionError(f"the {name} image has no CMD")
    return json.loads(commands[0])


def without_mounts(run: str) -> list[str]:
    return [word for word in shlex.split(run) if not word.startswith("--mount=")]


def _syncs(run: str) -> bool:
    return without_mounts(run)[:2] == ["uv", "sync"]


class ImageEmulator:
    """Replays the steps of Dockerfile targets under `workspace` (one directory per stage)."""

    def __init__(self, project: Path, workspace: Path, env: dict[str, str]) -> None:
        self.project = project
        self.workspace = workspace
        self.env = env
        self.stages = dockerfile_stages((project / "Dockerfile").read_text())

    def build(self, target: str) -> tuple[Path, Path]:
        """The target's WORKDIR and virtual environment, rebuilt from its steps."""
        root = self.workspace / target
        venv = self._venv(target)
        if root.exists():
            return root, venv
        root.mkdir(parents=True)
        for stage in reversed(lineage(self.stages, target)):
            for keyword, args in stage.instructions:
                if keyword == "COPY":
                    self._copy(args, root)
                elif keyword == "RUN":
                    image_env = self.environment(stage.name, venv, self.env.get("PATH", ""))
                    self._run(args, root, venv, {**self.env, **image_env})
        return root, venv

    def _venv(self, target: str) -> Path:
        """The environment of `target`: that of the nearest stage of its lineage that runs
        `uv sync`, shared by every target built on that stage, as their images share its
        layer (the api and migrations images, on `runtime`)."""
        for stage in lineage(self.stages, target):
            if any(kw == "RUN" and _syncs(args) for kw, args in stage.instructions):
                return self.workspace / f"{stage.name}-venv"
        return self.workspace / f"{target}-venv"

    def environment(self, stage: str, venv: Path, path: str) -> dict[str, str]:
        """The ENV of `stage` and the stages it is built on (nearer ones win), with `venv`
        standing for /opt/venv and `path` for `$PATH`."""
        values: dict[str, str] = {}
        for args in reversed(instructions(self.stages, stage, "ENV")):
            for word in shlex.split(args):
                key, _, value = word.partition("=")
                values[key] = value.replace(VENV, str(venv)).replace("$PATH", path)
        return values

    def _copy(self, args: str, root: Path) -> None:
        words = shlex.split(args)
        origin = next((w.split("=", 1)[1] for w in words if w.startswith("--from=")), None)
        source, destination = [w for w in words if not w.startswith("--")][-2:]
        if origin is None:
            path = self.project / source
        else:
            path = self.build(origin)[0] / Path(source).relative_to(WORKDIR)
        target = root / destination
        if path.is_dir():
            # .dockerignore keeps caches out of the build context.
            ignore = shutil.ignore_patterns("__pycache__", "*.py[cod]")
            shutil.copytree(path, target, dirs_exist_ok=True, ignore=ignore)
        else:
            shutil.copy2(path, target / path.name if destination.endswith("/") else target)

    def _run(self, args: str, root: Path, venv: Path, env: dict[str, str]) -> None:
        command = without_mounts(args)
        if _syncs(args):
            if venv.exists():  # built for another target on the same stage
                return
            # The Dockerfile bind-mounts these two files for the step only.
            for name in ("pyproject.toml", "uv.lock"):
                shutil.copy2(self.project / name, root / name)
            env = {**env, "UV_PROJECT_ENVIRONMENT": str(venv)}
            try:
                run(command, root, env)
            finally:
                for name in ("pyproject.toml", "uv.lock"):
                    (root / name).unlink()
        elif command[0] == "rm":
            run(command, root, env)
        elif command[0] != "groupadd":  # creating the image's user changes no file we read
            raise AssertionError(f"no emulation for RUN {args}")
