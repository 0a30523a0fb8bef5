"""Edits of the composition roots: found by syntax, idempotent, refused when the list is gone."""

import ast
from collections.abc import Callable

import pytest

from app.scripts.new_domain.names import DomainNames
from app.scripts.new_domain.plan import PROJECT_ROOT
from app.scripts.new_domain.registry import (
    MODELS,
    ROUTER,
    RegistryError,
    register_model,
    register_router,
)

INVOICE = DomainNames.parse("invoice")
Edit = Callable[[str, DomainNames], str]


def source(relative: str) -> str:
    return (PROJECT_ROOT / relative).read_text()


def test_the_project_registries_take_a_new_domain() -> None:
    models = register_model(source(MODELS), INVOICE)
    assert "from app.domains.invoice.models import Invoice\n" in models
    assert '    "Invoice",\n' in models
    router = register_router(source(ROUTER), INVOICE)
    assert "    invoices.router,\n" in router
    imported = {
        alias.name
        for node in ast.parse(router).body
        if isinstance(node, ast.ImportFrom) and node.module == "app.api.routes"
        for alias in node.names
    }
    assert "invoices" in imported


@pytest.mark.parametrize(
    ("relative", "edit"), [(MODELS, register_model), (ROUTER, register_router)]
)
def test_edits_are_idempotent(relative: str, edit: Edit) -> None:
    once = edit(source(relative), INVOICE)
    assert edit(once, INVOICE) == once


def test_compact_lists_and_parenthesised_imports() -> None:
    models = register_model(
        'from app.domains.base.models import Base\n\n__all__ = ["Base"]\n', INVOICE
    )
    assert models.endswith('__all__ = ["Base", "Invoice"]\n')
    router = register_router(
        "from app.api.routes import (\n    health,\n)\n\n"
        "for router in (health.router,):\n    include(router)\n",
        INVOICE,
    )
    assert "    health,\n    invoices,\n)" in router
    assert "for router in (health.router, invoices.router):" in router


@pytest.mark.parametrize(
    ("edit", "text", "message"),
    [
        (register_model, "from app.domains.base.models import Base\n", "no __all__ list"),
        (register_model, '__all__ = ["Base"]\n', "no domain imports"),
        (register_router, "from app.api.routes import health\nrouters = []\n", "for router in"),
        (register_router, "for router in (a,):\n    pass\n", "from app.api.routes import"),
        (register_router, "for router in (\n", "does not parse"),
    ],
)
def test_a_restructured_file_is_refused_with_what_to_do(
    edit: Edit, text: str, message: str
) -> None:
    with pytest.raises(RegistryError, match=message) as refused:
        edit(text, INVOICE)
    assert "by hand" in str(refused.value) or "does not parse" in str(refused.value)
