"""Compile every Python file of a rendered project and list the modules each one refers to.

Run by the rendered project's own interpreter (the template's tooling may be an older Python
that cannot parse the project's syntax), so it uses the standard library only:

    python3.13 tests/python_inventory.py <project>

and prints JSON: {"errors": [...], "imports": {file: [module, ...]},
"references": {file: [module, ...]}}. Imports are absolute module names (relative ones
resolved, `from a import b` listed as both `a` and `a.b`, since `b` may be a module);
references are dotted strings such as "app.api.main:app" or "app.workers.flows".
"""

from __future__ import annotations

import ast
import json
import re
import sys
import warnings
from pathlib import Path

SKIPPED_DIRECTORIES = {".venv", ".git", ".nox", "node_modules", "__pycache__"}
DOTTED_REFERENCE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+(:[A-Za-z_][\w.]*)?")


def package_of(relative: Path) -> list[str]:
    parts = list(relative.with_suffix("").parts)
    return parts[:-1]


def imported(tree: ast.AST, package: list[str]) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            if module:
                modules.add(module)
            modules.update(
                f"{module}.{alias.name}" if module else alias.name
                for alias in node.names
                if alias.name != "*"
            )
    return modules


def referenced(tree: ast.AST) -> set[str]:
    return {
        node.value.split(":", 1)[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and DOTTED_REFERENCE.fullmatch(node.value)
    }


def inventory(project: Path) -> dict[str, object]:
    errors: list[str] = []
    imports: dict[str, list[str]] = {}
    references: dict[str, list[str]] = {}
    for path in sorted(project.rglob("*.py")):
        relative = path.relative_to(project)
        if SKIPPED_DIRECTORIES.intersection(relative.parts):
            continue
        source = path.read_text(encoding="utf-8")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                compile(source, str(relative), "exec", dont_inherit=True)
            tree = ast.parse(source, filename=str(relative))
        except (SyntaxError, SyntaxWarning, ValueError) as error:
            errors.append(f"{relative}: {error}")
            continue
        imports[str(relative)] = sorted(imported(tree, package_of(relative)))
        references[str(relative)] = sorted(referenced(tree))
    return {"errors": errors, "imports": imports, "references": references}


if __name__ == "__main__":
    print(json.dumps(inventory(Path(sys.argv[1]))))
