"""Alembic commands for the generator, several per process (each start imports the app).

`python -m app.scripts.new_domain.migration check` upgrades the database of `DATABASE_URL` to
head and fails if the models and the migrations disagree; `... add MESSAGE` then autogenerates
a migration, applies it and checks again. The generator runs them in two processes, before
and after it writes, so the second one imports the new models.
"""

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

ALEMBIC_INI = Path(__file__).resolve().parents[3] / "alembic.ini"


def main(argv: list[str]) -> int:
    config = Config(ALEMBIC_INI)
    try:
        match argv:
            case ["check"]:
                command.upgrade(config, "head")
                command.check(config)
            case ["add", message]:
                command.revision(config, message=message, autogenerate=True)
                command.upgrade(config, "head")
                command.check(config)
            case _:
                print("usage: migration check | migration add MESSAGE", file=sys.stderr)
                return 2
    except Exception as error:
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
