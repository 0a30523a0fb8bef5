"""The generator plans before it writes, refuses a taken name, and undoes a failed run.

These tests write into a copy of the project's composition roots and skip the formatting and
migration steps, which `make new-domain` runs (the template's own tests run it end to end).
"""

import shutil
from pathlib import Path

import pytest

from app.scripts.new_domain import __main__ as cli
from app.scripts.new_domain import generator
from app.scripts.new_domain.generator import Changes, Pipeline, format_code, generate
from app.scripts.new_domain.names import DomainNames, InvalidName
from app.scripts.new_domain.plan import (
    PROJECT_ROOT,
    GeneratorError,
    Plan,
    destination,
    plan,
    render,
    template_files,
)
from app.scripts.new_domain.registry import MODELS, ROUTER

INVOICE = DomainNames.parse("invoice")
LONGEST = DomainNames.parse("a" * 30, plural="p" * 40)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """This project's registries and the users model (whatever domains were added since)."""
    for relative in (
        MODELS,
        ROUTER,
        "alembic.ini",
        "pyproject.toml",
        "app/domains/users/models.py",
    ):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PROJECT_ROOT / relative, tmp_path / relative)
    (tmp_path / "migrations" / "versions").mkdir(parents=True)
    return tmp_path


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {
        str(path.relative_to(root)): path.read_bytes() if path.is_file() else None
        for path in sorted(root.rglob("*"))
    }


def test_it_writes_the_domain_and_registers_it(project: Path) -> None:
    changes = generate(project, INVOICE, Pipeline())
    created = {str(path.relative_to(project)) for path in changes.created}
    domain = {f"app/domains/invoice/{module}.py" for module in ("__init__", "models", "schemas")}
    assert domain | {"app/api/routes/invoices.py", "tests/api/test_invoices.py"} <= created
    assert "tests/domains/invoice/test_service.py" in created
    assert len(created) == len(template_files())
    assert "from app.domains.invoice.models import Invoice" in (project / MODELS).read_text()
    assert "invoices.router," in (project / ROUTER).read_text()
    assert 'prefix="/invoices"' in (project / "app/api/routes/invoices.py").read_text()


def test_the_new_table_has_an_index_for_its_default_page(project: Path) -> None:
    """A page in the default order (newest first within the owner's rows, then by id) reads
    an index, not every row of the owner: the model declares one, so its migration adds it."""
    generate(project, INVOICE, Pipeline())
    model = (project / "app/domains/invoice/models.py").read_text()
    assert 'Index("ix_invoices_owner_id_created_at", "owner_id", "created_at", "id")' in model


def test_a_second_run_is_refused_and_changes_nothing(project: Path) -> None:
    generate(project, INVOICE, Pipeline())
    before = snapshot(project)
    with pytest.raises(GeneratorError, match="app/domains/invoice already exists"):
        generate(project, INVOICE, Pipeline())
    assert snapshot(project) == before


def test_a_failure_midway_puts_every_file_back(project: Path) -> None:
    before = snapshot(project)

    def migrate_and_fail(plan: Plan, changes: Changes) -> None:
        assert (project / "app/domains/invoice/models.py").is_file()
        migration = project / "migrations/versions/0002_add_invoices.py"
        migration.write_text('"""add invoices"""\n')
        changes.adopt(migration)
        raise RuntimeError("the migration did not apply")

    with pytest.raises(GeneratorError, match="the migration did not apply") as failed:
        generate(project, INVOICE, Pipeline(steps=[migrate_and_fail]))
    assert "every file is back as it was" in str(failed.value)
    assert snapshot(project) == before


def test_an_interrupt_also_puts_every_file_back(project: Path) -> None:
    before = snapshot(project)

    def interrupted(plan: Plan, changes: Changes) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(project, INVOICE, Pipeline(steps=[interrupted]))
    assert snapshot(project) == before


@pytest.mark.parametrize(
    ("taken", "name", "message"),
    [
        ("app/api/routes/invoices.py", "invoice", "app/api/routes/invoices.py already exists"),
        ("tests/api/test_invoices.py", "invoice", "tests/api/test_invoices.py already exists"),
        ("app/domains/invoices/models.py", "invoice", "app/domains/invoices already exists"),
        ("app/domains/billing/models.py", "invoice", "a table named 'invoices' already exists"),
    ],
)
def test_what_is_taken_is_refused_before_anything_is_written(
    project: Path, taken: str, name: str, message: str
) -> None:
    (project / taken).parent.mkdir(parents=True, exist_ok=True)
    (project / taken).write_text('class Bill:\n    __tablename__ = "invoices"\n')
    before = snapshot(project)
    with pytest.raises(GeneratorError, match=message):
        generate(project, DomainNames.parse(name), Pipeline())
    assert snapshot(project) == before


def test_a_failed_check_writes_nothing(project: Path) -> None:
    before = snapshot(project)

    def out_of_sync(plan: Plan) -> None:
        raise GeneratorError("the models and the migrations already disagree")

    with pytest.raises(GeneratorError, match="already disagree"):
        generate(project, INVOICE, Pipeline(checks=[out_of_sync]))
    assert snapshot(project) == before


def test_shipped_domains_are_taken(project: Path) -> None:
    with pytest.raises(GeneratorError, match="app/domains/users already exists"):
        plan(project, DomainNames.parse("user"))


@pytest.mark.parametrize(
    ("name", "plural", "message"),
    [
        # Alembic's own table: its autogenerate skips it, so the domain would get no table.
        ("alembic_ver", "alembic_version", "a table named 'alembic_version' already exists"),
        # Taken by options a later `copier update` may turn on.
        ("webhook", None, "'webhooks' is a name the template uses"),
    ],
)
def test_names_the_template_uses_are_refused(
    project: Path, name: str, plural: str | None, message: str
) -> None:
    with pytest.raises(GeneratorError, match=message):
        plan(project, DomainNames.parse(name, plural))


def test_a_name_giving_a_registered_model_class_is_refused(project: Path) -> None:
    generate(project, DomainNames.parse("item2"), Pipeline())
    before = snapshot(project)
    with pytest.raises(GeneratorError, match=r"model Item2 .* from app\.domains\.item2\.models"):
        generate(project, DomainNames.parse("item_2"), Pipeline())
    assert snapshot(project) == before


def test_a_restructured_router_is_refused_before_anything_is_written(project: Path) -> None:
    (project / ROUTER).write_text("from app.api.routes import users\n\nrouters = [users.router]\n")
    before = snapshot(project)
    with pytest.raises(GeneratorError, match="by hand"):
        generate(project, INVOICE, Pipeline())
    assert snapshot(project) == before


def test_a_name_that_clashes_with_the_generated_code_is_refused(project: Path) -> None:
    with pytest.raises(InvalidName, match="'service' clashes with 'Service'"):
        plan(project, DomainNames.parse("service"))


def test_it_runs_only_at_a_project_root(tmp_path: Path) -> None:
    with pytest.raises(GeneratorError, match="is not the project root"):
        plan(tmp_path, INVOICE)


def test_the_longest_names_still_give_clean_code(project: Path) -> None:
    """Lines grow with the names: formatting must bring them back under the line limit."""
    changes = Changes(project)
    for template in template_files():
        changes.create(destination(template, LONGEST), render(template, LONGEST))
    format_code(plan(project, INVOICE), changes)  # raises if ruff still finds a problem


def test_the_command_line(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "PROJECT_ROOT", project)
    monkeypatch.setattr(generator, "default_pipeline", Pipeline)
    assert cli.main(["line_item"]) == 0
    printed = capsys.readouterr().out
    assert "served under /api/v1/line-items" in printed
    assert "created  app/domains/line_item/models.py" in printed
    assert "changed  app/api/router.py" in printed
    assert cli.main(["line_item"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert cli.main(["Line"]) == 2
    assert "NAME must be snake_case" in capsys.readouterr().err
