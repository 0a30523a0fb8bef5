"""`make new-domain NAME=invoice [PLURAL=invoices]`: add an owner-scoped domain, green at once.

Creates the domain package (models, schemas, repository, authorization, service, exceptions,
factory), its routes under /api/v1/<plural>, their tests, and a migration; registers the model
and the router. Refuses a name that is taken or invalid, and changes nothing when it fails.
"""

import argparse
import sys

from app.scripts.new_domain.generator import generate
from app.scripts.new_domain.names import DomainNames, InvalidName
from app.scripts.new_domain.plan import PROJECT_ROOT, GeneratorError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="new-domain", description=__doc__)
    parser.add_argument("name", help="singular snake_case name, like invoice or line_item")
    parser.add_argument(
        "--plural",
        help="plural for the table, the routes and the route module (default: invoices, "
        "categories, boxes, ... by English rules)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        names = DomainNames.parse(args.name, args.plural)
        changes = generate(PROJECT_ROOT, names)
    except InvalidName as error:
        print(f"new-domain: {error}", file=sys.stderr)
        return 2
    except GeneratorError as error:
        print(f"new-domain: {error}", file=sys.stderr)
        return 1
    print(f"Added the {names.name} domain, served under /api/v1/{names.url}:")
    for path in changes.created:
        print(f"  created  {path.relative_to(PROJECT_ROOT)}")
    for path in changes.originals:
        print(f"  changed  {path.relative_to(PROJECT_ROOT)}")
    print("Next: `make check`, then make the fields your own (see README, Adding a domain).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
