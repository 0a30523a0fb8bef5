"""The composition roots a new domain joins: the model registry and the router list.

Both are explicit lists. The edits find them by their syntax (not by line numbers or
comments), change nothing else, and add nothing that is already there. When a file has been
restructured so that its list cannot be found, the edit is refused with what to add by hand.
"""

import ast

from app.scripts.new_domain.names import DomainNames

MODELS = "app/models.py"
ROUTER = "app/api/router.py"

# (line, column) where text goes in; columns count UTF-8 bytes, as `ast` does.
Edit = tuple[int, int, str]


class RegistryError(ValueError):
    """A composition root is missing the list a new domain is added to."""


def register_model(source: str, names: DomainNames) -> str:
    """`app/models.py` importing the new model and listing it in `__all__`."""
    module, model = f"app.domains.{names.name}.models", names.class_name
    by_hand = f'add `from {module} import {model}` and "{model}" to __all__ by hand'
    tree = _parse(source, MODELS)
    imports = [
        node
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("app.domains.")
    ]
    exported = _list_assigned_to(tree, "__all__")
    if not imports or exported is None:
        raise RegistryError(f"{MODELS} has no domain imports or no __all__ list; {by_hand}")
    edits: list[Edit] = []
    if not _imports(tree, module, model):
        last = imports[-1]
        edits.append(_after(last, f"\nfrom {module} import {model}"))
    if not any(isinstance(item, ast.Constant) and item.value == model for item in exported.elts):
        edits.append(_appended(source, exported, f'"{model}"'))
    return _checked(_apply(source, edits), MODELS)


def register_router(source: str, names: DomainNames) -> str:
    """`app/api/router.py` importing the new route module and including its router."""
    module = names.plural
    by_hand = f"add `from app.api.routes import {module}` and `{module}.router` by hand"
    tree = _parse(source, ROUTER)
    routes_import = next(
        (
            node
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.module == "app.api.routes"
        ),
        None,
    )
    routers = next(
        (
            node.iter
            for node in tree.body
            if isinstance(node, ast.For)
            and isinstance(node.target, ast.Name)
            and node.target.id == "router"
            and isinstance(node.iter, ast.Tuple | ast.List)
        ),
        None,
    )
    if routes_import is None or routers is None:
        raise RegistryError(
            f"{ROUTER} has no `from app.api.routes import ...` or no `for router in (...)` "
            f"list; {by_hand}"
        )
    edits: list[Edit] = []
    if module not in {alias.asname or alias.name for alias in routes_import.names}:
        edits.append(_appended(source, routes_import, module, items=routes_import.names))
    if not any(ast.unparse(item) == f"{module}.router" for item in routers.elts):
        edits.append(_appended(source, routers, f"{module}.router"))
    return _checked(_apply(source, edits), ROUTER)


def _parse(source: str, path: str) -> ast.Module:
    try:
        return ast.parse(source, filename=path)
    except SyntaxError as error:
        raise RegistryError(f"{path} does not parse: {error.msg} (line {error.lineno})") from error


def _checked(source: str, path: str) -> str:
    _parse(source, path)
    return source


def _imports(tree: ast.Module, module: str, name: str) -> bool:
    return any(
        isinstance(node, ast.ImportFrom)
        and node.module == module
        and any(alias.name == name for alias in node.names)
        for node in tree.body
    )


def _list_assigned_to(tree: ast.Module, target: str) -> ast.List | ast.Tuple | None:
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(name, ast.Name) and name.id == target for name in node.targets)
            and isinstance(node.value, ast.List | ast.Tuple)
        ):
            return node.value
    return None


def _end(node: ast.expr | ast.stmt) -> tuple[int, int]:
    if node.end_lineno is None or node.end_col_offset is None:
        raise RegistryError(f"no source position for {ast.unparse(node)!r}")
    return node.end_lineno, node.end_col_offset


def _after(node: ast.stmt, text: str) -> Edit:
    return (*_end(node), text)


def _appended(
    source: str,
    node: ast.expr | ast.stmt,
    item: str,
    items: list[ast.alias] | list[ast.expr] | None = None,
) -> Edit:
    """Add `item` at the end of a collection (or of a `from ... import` list)."""
    lines = source.splitlines()
    line, end = _end(node)
    closing = lines[line - 1].encode()[end - 1 : end].decode()
    if closing not in {")", "]"}:  # `from x import a, b`: no brackets
        return line, end, f", {item}"
    elements = items if items is not None else getattr(node, "elts", [])
    before_closing = lines[line - 1].encode()[: end - 1].decode()
    if elements and not before_closing.strip():  # one item per line, bracket on its own
        first = elements[0]
        indent = " " * first.col_offset if first.lineno != node.lineno else "    "
        return line, 0, f"{indent}{item},\n"
    if not elements:
        separator = ""
    elif before_closing.rstrip().endswith(","):
        separator = " "
    else:
        separator = ", "
    return line, end - 1, f"{separator}{item}"


def _apply(source: str, edits: list[Edit]) -> str:
    lines = source.splitlines(keepends=True)
    for line, column, text in sorted(edits, reverse=True):
        raw = lines[line - 1].encode()
        lines[line - 1] = (raw[:column] + text.encode() + raw[column:]).decode()
    return "".join(lines)
