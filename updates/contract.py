"""After every `copier update`, in the project: write `openapi.json` again when the update
changed the code it is built from (or the project has none yet), so the API contract test stays
green and the update's change to the API shows in its diff, for review like any other.

Run by copier.yml's `_migrations` with Copier's Python, in the project's directory.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from updates.history import git

DOCUMENT = "openapi.json"
# The document is built from the application's code and the libraries it runs on.
SOURCES = ("app/", "pyproject.toml")


def sources_touched(project: Path) -> bool:
    changed = git(project, "diff", "--name-only", "--relative", "HEAD").splitlines()
    untracked = git(project, "ls-files", "--others", "--exclude-standard").splitlines()
    return any(name.startswith(SOURCES) for name in changed + untracked)


def main() -> int:
    project = Path.cwd()
    if (project / DOCUMENT).is_file() and not sources_touched(project):
        return 0
    for command in (["make", "install"], ["make", "openapi"]):
        print(f"$ {' '.join(command)}", flush=True)
        try:
            status = subprocess.run(command, cwd=project, check=False).returncode
        except OSError as error:
            print(f"{command[0]}: {error}", file=sys.stderr)
            status = 127
        if status != 0:
            print(
                f"The files are updated, but {DOCUMENT} is not written yet: fix the error "
                "above, then run `make install openapi`.",
                file=sys.stderr,
            )
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
