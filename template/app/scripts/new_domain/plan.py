"""The plan of a new domain: every check and every file, computed before anything is written.

It refuses invalid or taken names, names that would clash with the generated code, composition
roots whose lists cannot be found, and templates that do not render or parse.
"""

import ast
import string
from dataclasses import dataclass
from pathlib import Path

from app.scripts.new_domain.names import DomainNames, InvalidName
from app.scripts.new_domain.registry import (
    MODELS,
    ROUTER,
    RegistryError,
    register_model,
    register_router,
)

PROJECT_ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE_SUFFIX = ".tmpl"
# Renders the templates to learn which identifiers the generated code uses.
PROBE = DomainNames(name="zqprobe", plural="zqprobes")
# Tables and module names the project's own code uses, or may once an option is turned on by
# `copier update` (a route package): a domain that took one would clash with it.
RESERVED_TABLES = frozenset({"alembic_version", "users"})
RESERVED_WORDS = frozenset({"auth", "base", "health", "users", "webhooks"})


class GeneratorError(Exception):
    """The domain cannot be added; the message says why, and nothing was changed."""


@dataclass(frozen=True)
class Plan:
    """What a run will write: new files and the new text of the edited composition roots."""

    root: Path
    names: DomainNames
    files: dict[Path, str]
    edits: dict[Path, str]


def template_files() -> list[Path]:
    return sorted(TEMPLATES.rglob(f"*{TEMPLATE_SUFFIX}"))


def destination(template: Path, names: DomainNames) -> Path:
    """`templates/app/domains/NAME/models.py.tmpl` -> `app/domains/invoice/models.py`."""
    relative = template.relative_to(TEMPLATES)
    parts = [
        part.replace("PLURAL", names.plural).replace("NAME", names.name) for part in relative.parts
    ]
    return Path(*parts).with_suffix("")


def render(template: Path, names: DomainNames) -> str:
    try:
        return string.Template(template.read_text(encoding="utf-8")).substitute(
            names.substitutions()
        )
    except (KeyError, ValueError) as error:
        raise GeneratorError(f"template {template.name} has a bad placeholder: {error}") from error


def plan(root: Path, names: DomainNames) -> Plan:
    """Check everything and compute every file; writes nothing."""
    for required in (MODELS, ROUTER, "alembic.ini", "migrations/versions"):
        if not (root / required).exists():
            raise GeneratorError(f"{root} is not the project root: {required} is missing")
    _check_free(root, names)
    files: dict[Path, str] = {}
    for template in template_files():
        relative, text = destination(template, names), render(template, names)
        if (root / relative).exists():
            raise GeneratorError(f"{relative} already exists; choose another NAME")
        if relative.suffix == ".py":
            _check_identifiers(template, relative, names)
            try:
                ast.parse(text)
            except SyntaxError as error:
                raise GeneratorError(f"the generated {relative} does not parse: {error}") from error
        files[relative] = text
    try:
        edits = {
            Path(MODELS): register_model((root / MODELS).read_text(encoding="utf-8"), names),
            Path(ROUTER): register_router((root / ROUTER).read_text(encoding="utf-8"), names),
        }
    except RegistryError as error:
        raise GeneratorError(str(error)) from error
    return Plan(root=root, names=names, files=files, edits=edits)


def _check_free(root: Path, names: DomainNames) -> None:
    for word in dict.fromkeys([names.name, names.plural]):
        for path in (f"app/domains/{word}", f"app/api/routes/{word}.py", f"app/api/routes/{word}"):
            if (root / path).exists():
                raise GeneratorError(f"{path} already exists; choose another NAME or PLURAL")
        if word in RESERVED_WORDS:
            raise GeneratorError(f"{word!r} is a name the template uses; choose another")
    if names.plural in RESERVED_TABLES or names.plural in existing_tables(root):
        raise GeneratorError(f"a table named {names.plural!r} already exists; pass another PLURAL")
    source = registered_models(root).get(names.class_name)
    if source is not None and source != f"app.domains.{names.name}.models":
        raise GeneratorError(
            f"the model {names.class_name} (from NAME {names.name!r}) is already in {MODELS}, "
            f"from {source}; choose another NAME"
        )


def registered_models(root: Path) -> dict[str, str]:
    """The names app/models.py imports (one per model), with the module of each."""
    tree = ast.parse((root / MODELS).read_text(encoding="utf-8"))
    return {
        alias.asname or alias.name: node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def existing_tables(root: Path) -> set[str]:
    """Every `__tablename__` declared under app/domains."""
    tables: set[str] = set()
    for path in (root / "app" / "domains").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__tablename__" for t in node.targets)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                tables.add(node.value.value)
    return tables


def _check_identifiers(template: Path, relative: Path, names: DomainNames) -> None:
    """Refuse a name that would make two identifiers of one generated file the same.

    `service`, for one, would name the model `Service`, which service.py imports from the base.
    """
    seen: dict[str, str] = {}
    for identifier in sorted(identifiers(render(template, PROBE))):
        renamed = (
            identifier.replace(PROBE.class_name, names.class_name)
            .replace(PROBE.plural, names.plural)
            .replace(PROBE.name, names.name)
        )
        if renamed in seen and seen[renamed] != identifier:
            raise InvalidName(
                f"NAME {names.name!r} clashes with {renamed!r}, which the generated {relative} "
                "already uses"
            )
        seen[renamed] = identifier


def identifiers(source: str) -> set[str]:
    """Names, attributes, arguments, functions and classes a module uses or defines."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.arg | ast.keyword) and node.arg:
            found.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.add(node.name)
        elif isinstance(node, ast.alias):
            found.add(node.asname or node.name.split(".")[0])
    return found
