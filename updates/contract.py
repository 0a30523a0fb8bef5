"""After every `copier update`, in the project: write `openapi.json` again when the update
changed the code it is built from (or the project has none yet), so the API contract test stays
green and the update's change to the API shows in its diff, for review like any other.

Run by copier.yml's `_migrations` with Copier's Python, in the project's directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from updates.history import make, touched

DOCUMENT = "openapi.json"
# The document is built from the application's code and the libraries it runs on.
SOURCES = ("app/", "pyproject.toml")


def main() -> int:
    project = Path.cwd()
    if (project / DOCUMENT).is_file() and not touched(project, SOURCES):
        return 0
    return make(project, [["install"], ["openapi"]], f"{DOCUMENT} is not written yet")


if __name__ == "__main__":
    sys.exit(main())
