"""T0: every combination of the yes/no questions renders clean, or is refused with its message.

A clean render has no Jinja left and no empty file, nothing of a disabled feature (file,
import, dependency, setting, Makefile target, compose service, README section, word) and
everything of an enabled one, a framework-free domain layer, passes `ruff check` and
`ruff format --check` with the project's own configuration, and compiles under the project's
Python. Each non-default choice (Python version, licence) is rendered and checked the same way.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

import pytest
from copier.errors import UserMessageError
from pytest_copie.plugin import Copie

from tests.helpers import TEMPLATE_ROOT, all_boolean_combinations, answer, rejection, variant_id
from tests.traces import Renders, compose_services, found, text_files


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
        # Phrases as well as identifiers: a docstring or comment may speak of a disabled option.
        words=("api_key", "X-API-Key", "api key", "api-key"),
    ),
    "auth_clerk": Traces(
        paths=("**/*clerk*", "app/api/routes/webhooks", "tests/api/webhooks"),
        modules=("app.api.routes.webhooks",),
        settings=(
            "CLERK_ISSUER",
            "CLERK_JWKS_URL",
            "CLERK_AUTHORIZED_PARTIES",
            "CLERK_WEBHOOK_SECRET",
        ),
        readme_headings=("Clerk",),
        words=("clerk", "svix", "jwks", "jwt", "bearer", "session token"),
    ),
    "use_prefect": Traces(
        paths=(
            "app/workers",
            "**/*prefect*",
            "tests/workers",
            "deploy/kubernetes/base/worker.yaml",
        ),
        modules=("prefect", "app.workers"),
        dependencies=("prefect",),
        settings=("PREFECT_API_URL", "PREFECT_API_AUTH_STRING", "WORKER_POOL"),
        make_targets=("worker", "init-prefect", "docker-up-prefect"),
        compose_services=("prefect-server", "worker"),
        words=("prefect", "worker", "init-prefect", "work pool"),
    ),
    "use_logfire": Traces(
        modules=("logfire",),
        dependencies=("logfire",),
        settings=("LOGFIRE_TOKEN",),
        words=("logfire", "opentelemetry"),
    ),
    "use_github_actions": Traces(
        paths=(
            ".github",
            ".github/dependabot.yml",
            "scripts",
            "tests/scripts/test_next_version.py",
            "tests/scripts/test_template_update.py",
        ),
        words=(
            "next_version",
            "release candidate",
            "github actions",
            "dependabot",
            "template_update",
            "template-update",
        ),
    ),
}

# Modules the domain layer must never import, whatever the options.
ADAPTER_MODULES = ("fastapi", "starlette", "uvicorn", "prefect", "app.api", "app.workers")

# Files that are empty on purpose (package and typing markers, directory keepers).
EMPTY_BY_DESIGN = {"__init__.py", "__init__.py.tmpl", "py.typed", ".gitkeep"}

INVALID = [answers for answers in all_boolean_combinations() if rejection(answers) is not None]

# A Jinja expression, statement or comment opener ("{{ name", "{% if", "{#"); Python's own
# braces ({**a, **b}, {{}} in f-strings) do not match. GitHub expressions are removed first.
JINJA_LEFTOVER = re.compile(r"\{\{-?\s*[A-Za-z_]|\{%-?\s*[a-z]|\{#")
GITHUB_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


def test_no_jinja_is_left(rendered: Path) -> None:
    leftovers = [
        name
        for name, text in text_files(rendered).items()
        if not name.endswith(".mako") and JINJA_LEFTOVER.search(GITHUB_EXPRESSION.sub("", text))
    ]
    assert leftovers == []
    assert list(rendered.rglob("*.jinja")) == []
    assert [p for p in rendered.rglob("*") if "{%" in p.name or "{{" in p.name] == []


# Text, then a block tag that ends the line: `trim_blocks` drops the newline after the tag.
TEXT_THEN_BLOCK_TAG = re.compile(r"\S.*\{%-?\s*(?:if|elif|else|endif|for|endfor)\b[^%]*%\}$")


def test_no_block_tag_joins_two_lines_of_text() -> None:
    """A line of text that ends with a block tag (`...adapter{% endif %}`) loses its newline when
    rendered, so the next line is glued to it; the template keeps an empty line after each,
    which becomes the line break."""
    joined = []
    for path in sorted((TEMPLATE_ROOT / "template").rglob("*")):
        lines = path.read_text(errors="replace").splitlines() if path.is_file() else []
        for number, (line, following) in enumerate(itertools.pairwise(lines), start=1):
            if TEXT_THEN_BLOCK_TAG.search(line) and following.strip():
                joined.append(f"{path.relative_to(TEMPLATE_ROOT)}:{number}")
    assert joined == []


def test_no_file_is_empty(rendered: Path) -> None:
    """A conditional block that swallowed a whole file leaves an empty file behind."""
    empty = [
        str(path.relative_to(rendered))
        for path in rendered.rglob("*")
        if path.is_file() and path.name not in EMPTY_BY_DESIGN and not path.read_bytes().strip()
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
    assert isinstance(result.exception, ValueError | UserMessageError)
    assert message in str(result.exception)
    assert result.project_dir is None
