"""The names of a new domain: checked once, then derived for modules, classes, tables and URLs.

`invoice` gives the package `app.domains.invoice`, the classes `Invoice`, `InvoiceCreate`, ...,
the table `invoices` and the routes under `/invoices`; `line_item` gives `LineItem`,
`line_items` and `/line-items`.
"""

import builtins
import keyword
import re
from dataclasses import dataclass

SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
MAX_NAME_LENGTH = 30
# PostgreSQL truncates identifiers past 63 bytes; the longest generated name, the index
# ix_<plural>_owner_id_created_at, adds 23 characters to the plural.
MAX_PLURAL_LENGTH = 40
# Packages, layers and paths of the project itself.
RESERVED = frozenset(
    [
        "api",
        "app",
        "base",
        "domains",
        "health",
        "infrastructure",
        "me",
        "migrations",
        "models",
        "scripts",
        "tests",
    ]
)
IRREGULAR_PLURALS = {"child": "children", "man": "men", "person": "people", "woman": "women"}


class InvalidName(ValueError):
    """A name the generator refuses; the message says why, in one line."""


def pluralize(word: str) -> str:
    """The English plural of a snake_case name, for its last word: `line_item` -> `line_items`."""
    head, separator, last = word.rpartition("_")
    if last in IRREGULAR_PLURALS:
        plural = IRREGULAR_PLURALS[last]
    elif last.endswith(("s", "x", "z", "ch", "sh")):
        plural = last + "es"
    elif last.endswith("y") and len(last) > 1 and last[-2] not in "aeiou":
        plural = last[:-1] + "ies"
    else:
        plural = last + "s"
    return head + separator + plural


def camel_case(word: str) -> str:
    return "".join(part.capitalize() for part in word.split("_"))


def check_word(option: str, value: str, max_length: int) -> None:
    """Refuse a value that cannot name a Python module, a class and a table."""
    if not SNAKE_CASE.fullmatch(value):
        raise InvalidName(
            f"{option} must be snake_case (lowercase letters, digits and single underscores, "
            f"starting with a letter), like invoice or line_item; got {value!r}"
        )
    if len(value) > max_length:
        raise InvalidName(f"{option} must be at most {max_length} characters; got {value!r}")
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        raise InvalidName(f"{option} {value!r} is a Python keyword")
    for candidate in (value, camel_case(value)):
        if _is_builtin(candidate):
            raise InvalidName(f"{option} {value!r} would shadow the Python builtin {candidate!r}")
    if value.startswith("test"):
        raise InvalidName(f"{option} {value!r} starts with 'test', which pytest would collect")
    if value in RESERVED:
        raise InvalidName(f"{option} {value!r} is reserved by the project")


def _is_builtin(identifier: str) -> bool:
    # The interactive helpers the site module adds (license, exit, ...) are fair names.
    found = getattr(builtins, identifier, None)
    return found is not None and type(found).__module__ != "_sitebuiltins"


@dataclass(frozen=True, slots=True)
class DomainNames:
    name: str
    plural: str

    @classmethod
    def parse(cls, name: str, plural: str | None = None) -> "DomainNames":
        check_word("NAME", name, MAX_NAME_LENGTH)
        plural = plural or pluralize(name)
        check_word("PLURAL", plural, MAX_PLURAL_LENGTH)
        if plural == name:
            raise InvalidName(f"PLURAL must differ from NAME ({name!r}); pass another PLURAL")
        return cls(name=name, plural=plural)

    @property
    def class_name(self) -> str:
        return camel_case(self.name)

    @property
    def url(self) -> str:
        return self.plural.replace("_", "-")

    def substitutions(self) -> dict[str, str]:
        """What each placeholder of the templates stands for."""
        label = self.name.replace("_", " ")
        labels = self.plural.replace("_", " ")
        return {
            "name": self.name,
            "plural": self.plural,
            "Class": self.class_name,
            "url": self.url,
            "label": label,
            "labels": labels,
            "Labels": labels.capitalize(),
        }
