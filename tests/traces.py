"""T0 renders and what they contain, gathered the same way for every option: the modules its
Python imports or names, its dependencies, settings, Makefile targets, compose services, README
headings and texts (see DISABLED_TRACES in test_render.py)."""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.documented import Makefile
from tests.helpers import CHOICE_OPTIONS, answer, find_python, render, run, variant_id

COMPOSE_FILE = re.compile(r"(docker-)?compose[\w.-]*\.ya?ml")
INVENTORY_SCRIPT = Path(__file__).with_name("python_inventory.py")


def parser_for(version: str) -> str:
    """The project's Python, else a newer supported one (its parser accepts the older syntax;
    ruff's target-version check catches syntax newer than the project's)."""
    versions = CHOICE_OPTIONS["python_version"]
    supported = sorted(versions, key=lambda v: tuple(map(int, v.split("."))))
    for candidate in supported[supported.index(version) :]:
        if python := find_python(candidate):
            return python
    raise AssertionError(f"no Python {version} or newer: install one (or put it on PATH)")


class Renders:
    """Renders of the working tree, one per answer set, made on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.projects: dict[str, Path] = {}
        self.inventories: dict[Path, dict[str, Any]] = {}

    def project(self, answers: dict[str, Any]) -> Path:
        key = variant_id(answers)
        if key not in self.projects:
            self.projects[key] = render(self.root / f"v{len(self.projects):02d}", answers)
        return self.projects[key]

    def inventory(self, project: Path) -> dict[str, Any]:
        """Compile errors, imports and module references of every .py file (python_inventory)."""
        if project not in self.inventories:
            python = parser_for(answer(project, "python_version"))
            completed = run([python, str(INVENTORY_SCRIPT), str(project)], project, os.environ)
            self.inventories[project] = json.loads(completed.stdout)
        return self.inventories[project]


@dataclass(frozen=True)
class Found:
    """The traces a render contains, gathered the same way for every option."""

    modules: dict[str, set[str]]  # module -> the files that import or name it
    dependencies: set[str]
    settings: set[str]
    make_targets: set[str]
    compose_services: set[str]
    readme_headings: str
    texts: dict[str, str]

    def has(self, kind: str, entry: str, project: Path) -> list[str]:
        """Where `entry` of `kind` appears (empty when it does not)."""
        if kind == "paths":
            return sorted(str(path.relative_to(project)) for path in project.glob(entry))
        if kind == "modules":
            return sorted(
                {
                    path
                    for module, paths in self.modules.items()
                    if module == entry or module.startswith(entry + ".")
                    for path in paths
                }
            )
        if kind == "readme_headings":
            return ["README.md"] if entry.lower() in self.readme_headings else []
        if kind == "words":
            return sorted(name for name, text in self.texts.items() if entry.lower() in text)
        return [entry] if entry in getattr(self, kind) else []


def text_files(project: Path) -> dict[str, str]:
    texts = {}
    for path in project.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            try:
                texts[str(path.relative_to(project))] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
    return texts


def distribution(requirement: str) -> str:
    name = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
    return re.sub(r"[-_.]+", "-", name.group(0)).lower() if name else requirement


def dependencies(project: Path) -> set[str]:
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    requirements = list(pyproject.get("project", {}).get("dependencies", []))
    for group in pyproject.get("project", {}).get("optional-dependencies", {}).values():
        requirements += group
    for group in pyproject.get("dependency-groups", {}).values():
        requirements += [item for item in group if isinstance(item, str)]
    return {distribution(requirement) for requirement in requirements}


def settings(project: Path, texts: dict[str, str]) -> set[str]:
    """Variables of .env.sample (set or commented out) and Settings fields, upper-cased."""
    names = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", texts.get(".env.sample", ""), re.M))
    config = texts.get("app/infrastructure/config.py", "")
    names |= {field.upper() for field in re.findall(r"^    ([a-z][a-z0-9_]*):", config, re.M)}
    return names


def make_targets(texts: dict[str, str]) -> set[str]:
    return Makefile.parse(texts.get("Makefile", "")).targets


def compose_services(project: Path) -> set[str] | None:
    """Services of the compose files, or None when the render has no compose file."""
    files = [path for path in project.iterdir() if COMPOSE_FILE.fullmatch(path.name)]
    if not files:
        return None
    return {
        name
        for path in files
        for name in (yaml.safe_load(path.read_text()) or {}).get("services", {})
    }


def readme_headings(readme: str) -> str:
    """Every heading of a Markdown file, lower-cased, one per line (code blocks skipped)."""
    headings, fenced = [], False
    for line in readme.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            headings.append(line.lstrip("#").strip().lower())
    return "\n".join(headings)


def found(project: Path, renders: Renders) -> Found:
    texts = text_files(project)
    inventory = renders.inventory(project)
    modules: dict[str, set[str]] = {}
    for kind in ("imports", "references"):
        for path, listed in inventory[kind].items():
            for module in listed:
                modules.setdefault(module, set()).add(path)
    return Found(
        modules=modules,
        dependencies=dependencies(project),
        settings=settings(project, texts),
        make_targets=make_targets(texts),
        compose_services=compose_services(project) or set(),
        readme_headings=readme_headings(texts.get("README.md", "")),
        texts={name: text.lower() for name, text in texts.items() if name != ".copier-answers.yml"},
    )
