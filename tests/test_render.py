"""T0: every combination of the yes/no questions renders clean, or is refused with its message.

A clean render has no Jinja left and no empty file, nothing of a disabled feature (file,
import, dependency, setting, Makefile target, compose service, README section, word) and
everything of an enabled one, a framework-free domain layer, passes `ruff check` and
`ruff format --check` with the project's own configuration, and compiles under the project's
Python. Each non-default choice (Python version, licence) is rendered and checked the same way.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

import pytest
import yaml
from pytest_copie.plugin import Copie

from tests.conftest import Renders
from tests.helpers import all_boolean_combinations, answer, rejection, variant_id


@dataclass(frozen=True)
class Traces:
    """What only a feature brings. With its option off, none of it may appear in a render;
    with it on, every entry must (so a misspelt entry cannot pass unnoticed)."""

    paths: tuple[str, ...] = ()  # glob patterns, relative to the project
    modules: tuple[str, ...] = ()  # imported or referenced from Python (submodules included)
    dependencies: tuple[str, ...] = ()  # distributions in pyproject.toml, any group
    settings: tuple[str, ...] = ()  # variables of .env.sample (and fields of Settings)
    make_targets: tuple[str, ...] = ()
    compose_services: tuple[str, ...] = ()
    readme_headings: tuple[str, ...] = ()  # words of a heading of README.md
    words: tuple[str, ...] = ()  # case-insensitive, in any file


DISABLED_TRACES = {
    "auth_api_keys": Traces(
        paths=("app/domains/api_keys", "app/api/routes/api_keys.py", "**/*api_key*"),
        modules=("app.domains.api_keys", "app.api.routes.api_keys"),
        settings=("RATE_LIMIT_API_KEY_CREATE", "API_KEY_MAX_PER_USER"),
        readme_headings=("API keys",),
        words=("api_key", "X-API-Key"),
    ),
    "auth_clerk": Traces(
        paths=("**/*clerk*", "app/api/routes/webhooks"),
        modules=("app.api.routes.webhooks",),
        settings=(
            "CLERK_ISSUER",
            "CLERK_JWKS_URL",
            "CLERK_AUTHORIZED_PARTIES",
            "CLERK_WEBHOOK_SECRET",
        ),
        readme_headings=("Clerk",),
        words=("clerk", "svix"),
    ),
    "use_prefect": Traces(
        paths=("app/workers", "**/*prefect*"),
        modules=("prefect", "app.workers"),
        dependencies=("prefect",),
        settings=("PREFECT_API_URL",),
        make_targets=("worker", "init-prefect", "docker-up-prefect"),
        compose_services=("prefect-server", "worker"),
        words=("prefect",),
    ),
    "use_logfire": Traces(
        modules=("logfire",),
        dependencies=("logfire",),
        settings=("LOGFIRE_TOKEN",),
        words=("logfire",),
    ),
    "use_github_actions": Traces(paths=(".github",)),
}

# Modules the domain layer must never import, whatever the options.
ADAPTER_MODULES = ("fastapi", "starlette", "uvicorn", "prefect", "app.api", "app.workers")

INVALID = [answers for answers in all_boolean_combinations() if rejection(answers) is not None]

# A Jinja expression, statement or comment opener ("{{ name", "{% if", "{#"); Python's own
# braces ({**a, **b}, {{}} in f-strings) do not match. GitHub expressions are removed first.
JINJA_LEFTOVER = re.compile(r"\{\{-?\s*[A-Za-z_]|\{%-?\s*[a-z]|\{#")
GITHUB_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
COMPOSE_FILE = re.compile(r"(docker-)?compose[\w.-]*\.ya?ml")


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
    makefile = texts.get("Makefile", "")
    targets = set(re.findall(r"^([A-Za-z0-9][\w.-]*)\s*:(?!=)", makefile, re.M))
    for phony in re.findall(r"^\.PHONY\s*:(.*)$", makefile, re.M):
        targets.update(phony.split())
    return targets


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


def test_no_jinja_is_left(rendered: Path) -> None:
    leftovers = [
        name
        for name, text in text_files(rendered).items()
        if not name.endswith(".mako") and JINJA_LEFTOVER.search(GITHUB_EXPRESSION.sub("", text))
    ]
    assert leftovers == []
    assert list(rendered.rglob("*.jinja")) == []
    assert [p for p in rendered.rglob("*") if "{%" in p.name or "{{" in p.name] == []


def test_no_file_is_empty(rendered: Path) -> None:
    """A conditional block that swallowed a whole file leaves an empty file behind."""
    empty = [
        str(path.relative_to(rendered))
        for path in rendered.rglob("*")
        if path.is_file() and path.name != "__init__.py" and not path.read_bytes().strip()
    ]
    assert empty == []


def test_nothing_of_a_disabled_feature_remains(rendered: Path, renders: Renders) -> None:
    traces = found(rendered, renders)
    left = [
        f"{option} is off but {kind} {entry!r} is in {', '.join(where)}"
        for option, expected in DISABLED_TRACES.items()
        if not answer(rendered, option)
        for kind in (field.name for field in fields(Traces))
        for entry in getattr(expected, kind)
        if (where := traces.has(kind, entry, rendered))
    ]
    assert left == []


def test_everything_of_an_enabled_feature_is_there(rendered: Path, renders: Renders) -> None:
    """The other half of the trace lists: with the option on, each entry is found. Compose
    services and docker-* targets are expected once the render has a compose stack."""
    traces = found(rendered, renders)
    stack = compose_services(rendered) is not None
    missing = [
        f"{option} is on but {kind} {entry!r} is missing"
        for option, expected in DISABLED_TRACES.items()
        if answer(rendered, option)
        for kind in (field.name for field in fields(Traces))
        for entry in getattr(expected, kind)
        if stack or not (kind == "compose_services" or entry.startswith("docker-"))
        if not traces.has(kind, entry, rendered)
    ]
    assert missing == []


def test_domain_layer_imports_no_adapter(rendered: Path, renders: Renders) -> None:
    imports = renders.inventory(rendered)["imports"]
    violations = [
        f"{path} imports {module}"
        for path, modules in imports.items()
        if path.startswith("app/domains/")
        for module in modules
        if any(module == name or module.startswith(name + ".") for name in ADAPTER_MODULES)
    ]
    assert violations == []


def test_python_compiles(rendered: Path, renders: Renders) -> None:
    inventory = renders.inventory(rendered)
    assert inventory["errors"] == []
    assert "app/api/main.py" in inventory["imports"]


def test_ruff_is_clean(rendered: Path) -> None:
    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        completed = subprocess.run(
            [sys.executable, "-m", "ruff", *command],
            cwd=rendered,
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr


def test_choices_reach_the_render(rendered: Path) -> None:
    pyproject = tomllib.loads((rendered / "pyproject.toml").read_text())["project"]
    version, licence = answer(rendered, "python_version"), answer(rendered, "license")
    assert (rendered / ".python-version").read_text().strip() == version
    assert pyproject["requires-python"] == f">={version}"
    assert pyproject.get("license") == (None if licence == "Proprietary" else licence)
    if licence == "Proprietary":
        assert not (rendered / "LICENSE").exists()
    else:
        assert licence.split("-")[0] in (rendered / "LICENSE").read_text().splitlines()[0]


@pytest.mark.parametrize("answers", INVALID, ids=variant_id)
def test_invalid_combinations_are_refused(copie: Copie, answers: dict[str, bool]) -> None:
    message = rejection(answers)
    assert message is not None
    result = copie.copy(extra_answers=answers)
    assert isinstance(result.exception, ValueError)
    assert message in str(result.exception)
    assert result.project_dir is None
