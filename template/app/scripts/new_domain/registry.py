"""The composition roots a new domain joins: the model registry and the router list.

Each root has a block for added domains, after an `# isort: split` line: the new import goes
there (ruff may then merge the router's imports into one statement), and the router's entry
at the end of its list. The shipped
lines above the block are the ones an answer change may rewrite; keeping the added lines apart
from them is what lets `copier update` merge both. The edits add nothing that is already there,
and a file whose block or list cannot be found is refused with what to add by hand.
"""

import ast

from app.scripts.new_domain.names import DomainNames

MODELS = "app/models.py"
ROUTER = "app/api/router.py"
SPLIT = "# isort: split"

# (line, column) where text goes in; columns count UTF-8 bytes, as `ast` does.
Edit = tuple[int, int, str]


class RegistryError(ValueError):
    """A composition root is missing the block or the list a new domain is added to."""


def register_model(source: str, names: DomainNames) -> str:
    """`app/models.py` importing (and so re-exporting) the new model."""
    module, model = f"app.domains.{names.name}.models", names.class_name
    statement = f"from {module} import {model} as {model}"
    tree = _parse(source, MODELS)
    if _imports(tree, module, model):
        return source
    edit = _import_edit(source, tree, statement, MODELS)
    return _checked(_apply(source, [edit]), MODELS)


def register_router(source: str, names: DomainNames) -> str:
    """`app/api/router.py` importing the new route module and including its router."""
    module = names.plural
    by_hand = f"add `from app.api.routes import {module}` and `{module}.router` by hand"
    tree = _parse(source, ROUTER)
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
    if routers is None:
        raise RegistryError(f"{ROUTER} has no `for router in (...)` list; {by_hand}")
    edits: list[Edit] = []
    if not _imports(tree, "app.api.routes", module):
        edits.append(_import_edit(source, tree, f"from app.api.routes import {module}", ROUTER))
    if not any(ast.unparse(item) == f"{module}.router" for item in routers.elts):
        edits.append(_appended(source, routers, f"{module}.router"))
    return _checked(_apply(source, edits), ROUTER)


def _import_edit(source: str, tree: ast.Module, statement: str, path: str) -> Edit:
    """Where `statement` goes: after the last import of the added-domains block."""
    lines = source.splitlines()
    marker = next((number for number, line in enumerate(lines, 1) if line.strip() == SPLIT), None)
    if marker is None:
        raise RegistryError(
            f"{path} has no `{SPLIT}` block for added domains; add `{statement}` by hand"
        )
    added = [
        node
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom) and node.lineno > marker
    ]
    if added:
        return (*_end(added[-1]), f"\n{statement}")
    last = marker  # the comments that follow the marker describe the block: stay below them
    while last < len(lines) and lines[last].lstrip().startswith("#"):
        last += 1
    return last + 1, 0, f"{statement}\n"


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


def _end(node: ast.expr | ast.stmt) -> tuple[int, int]:
    if node.end_lineno is None or node.end_col_offset is None:
        raise RegistryError(f"no source position for {ast.unparse(node)!r}")
    return node.end_lineno, node.end_col_offset


def _appended(source: str, node: ast.List | ast.Tuple, item: str) -> Edit:
    """Add `item` at the end of a list or tuple."""
    lines = source.splitlines()
    line, end = _end(node)
    before_closing = lines[line - 1].encode()[: end - 1].decode()
    if node.elts and not before_closing.strip():  # one item per line, bracket on its own
        first = node.elts[0]
        indent = " " * first.col_offset if first.lineno != node.lineno else "    "
        return line, 0, f"{indent}{item},\n"
    if not node.elts:
        separator = ""
    elif before_closing.rstrip().endswith(","):
        separator = " "
    else:
        separator = ", "
    return line, end - 1, f"{separator}{item}"


def _apply(source: str, edits: list[Edit]) -> str:
    lines = source.splitlines(keepends=True)
    lines.append("")  # an edit may insert at the line after the last one
    for line, column, text in sorted(edits, reverse=True):
        raw = lines[line - 1].encode()
        lines[line - 1] = (raw[:column] + text.encode() + raw[column:]).decode()
    return "".join(lines)
