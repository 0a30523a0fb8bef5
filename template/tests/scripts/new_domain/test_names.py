"""Names of a new domain: English plurals, derived names, and one clear refusal per bad name."""

import pytest

from app.scripts.new_domain.names import DomainNames, InvalidName, pluralize


@pytest.mark.parametrize(
    ("word", "plural"),
    [
        ("invoice", "invoices"),
        ("category", "categories"),
        ("day", "days"),
        ("box", "boxes"),
        ("address", "addresses"),
        ("branch", "branches"),
        ("wish", "wishes"),
        ("person", "people"),
        ("line_item", "line_items"),
        ("sales_person", "sales_people"),
    ],
)
def test_plurals(word: str, plural: str) -> None:
    assert pluralize(word) == plural


def test_derived_names() -> None:
    names = DomainNames.parse("line_item")
    assert (names.plural, names.class_name, names.url) == ("line_items", "LineItem", "line-items")
    assert names.substitutions()["Labels"] == "Line items"
    assert DomainNames.parse("invoice_2", plural="invoices_2").class_name == "Invoice2"


@pytest.mark.parametrize(
    ("name", "plural", "message"),
    [
        ("Invoice", None, "NAME must be snake_case"),
        ("line-item", None, "NAME must be snake_case"),
        ("2fa", None, "NAME must be snake_case"),
        ("double__underscore", None, "NAME must be snake_case"),
        ("trailing_", None, "NAME must be snake_case"),
        ("", None, "NAME must be snake_case"),
        ("a" * 31, None, "NAME must be at most 30 characters"),
        ("class", None, "'class' is a Python keyword"),
        ("match", None, "'match' is a Python keyword"),
        ("list", None, "would shadow the Python builtin 'list'"),
        ("exception", None, "would shadow the Python builtin 'Exception'"),
        ("test_run", None, "starts with 'test'"),
        ("base", None, "'base' is reserved by the project"),
        ("invoice", "invoice", "PLURAL must differ from NAME"),
        ("invoice", "Invoices", "PLURAL must be snake_case"),
        ("var", None, "PLURAL 'vars' would shadow the Python builtin 'vars'"),
        ("invoice", "i" * 41, "PLURAL must be at most 40 characters"),
    ],
)
def test_invalid_names_are_refused(name: str, plural: str | None, message: str) -> None:
    with pytest.raises(InvalidName, match=message) as refused:
        DomainNames.parse(name, plural)
    assert "\n" not in str(refused.value)


def test_site_helpers_are_fair_names() -> None:
    assert DomainNames.parse("license").plural == "licenses"
