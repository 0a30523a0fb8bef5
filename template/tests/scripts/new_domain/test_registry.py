"""Edits of the composition roots: in the block for added domains, idempotent, refused when the
block or the list is gone."""

from collections.abc import Callable

import pytest

from app.scripts.new_domain.names import DomainNames
from app.scripts.new_domain.plan import PROJECT_ROOT
from app.scripts.new_domain.registry import (
    MODELS,
    ROUTER,
    SPLIT,
    RegistryError,
    register_model,
    register_router,
)

INVOICE = DomainNames.parse("invoice")
# Names no project has taken (its registries may hold domains added since it was rendered).
FIRST, SECOND = DomainNames.parse("zq_first"), DomainNames.parse("zq_second")
Edit = Callable[[str, DomainNames], str]


def source(relative: str) -> str:
    return (PROJECT_ROOT / relative).read_text()


def below_the_split(text: str) -> str:
    return text.split(SPLIT, 1)[1]


def test_the_project_registries_take_new_domains_below_the_split() -> None:
    models = register_model(register_model(source(MODELS), FIRST), SECOND)
    block = below_the_split(models)
    assert "from app.domains.zq_first.models import ZqFirst as ZqFirst\n" in block
    assert "from app.domains.zq_second.models import ZqSecond as ZqSecond\n" in block
    assert block.index("ZqFirst as ZqFirst") < block.index("ZqSecond as ZqSecond")
    assert models.split(SPLIT, 1)[0] == source(MODELS).split(SPLIT, 1)[0]

    router = register_router(register_router(source(ROUTER), FIRST), SECOND)
    block = below_the_split(router)
    assert "from app.api.routes import zq_firsts\n" in block
    assert "from app.api.routes import zq_seconds\n" in block
    assert block.endswith(
        "    zq_firsts.router,\n    zq_seconds.router,\n):\n    api_router.include_router(router)\n"
    )
    assert router.split(SPLIT, 1)[0] == source(ROUTER).split(SPLIT, 1)[0]


@pytest.mark.parametrize(
    ("relative", "edit"), [(MODELS, register_model), (ROUTER, register_router)]
)
def test_edits_are_idempotent(relative: str, edit: Edit) -> None:
    once = edit(source(relative), INVOICE)
    assert edit(once, INVOICE) == once


def test_a_compact_router_list() -> None:
    router = register_router(
        f"from app.api.routes import health\n\n{SPLIT}\n\n"
        "for router in (health.router,):\n    include(router)\n",
        INVOICE,
    )
    assert f"{SPLIT}\nfrom app.api.routes import invoices\n" in router
    assert "for router in (health.router, invoices.router):" in router


@pytest.mark.parametrize(
    ("edit", "text", "message"),
    [
        (register_model, "from app.domains.base.models import Base\n", "no `# isort: split`"),
        (register_router, f"{SPLIT}\nrouters = []\n", "for router in"),
        (register_router, "for router in (a,):\n    pass\n", "no `# isort: split`"),
        (register_router, "for router in (\n", "does not parse"),
    ],
)
def test_a_restructured_file_is_refused_with_what_to_do(
    edit: Edit, text: str, message: str
) -> None:
    with pytest.raises(RegistryError, match=message) as refused:
        edit(text, INVOICE)
    assert "by hand" in str(refused.value) or "does not parse" in str(refused.value)
