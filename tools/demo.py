"""The README's main job: render the default service, install it, migrate its SQLite database,
create an admin whose API key is printed, and serve it on http://127.0.0.1:8000.

Run through `nox -s demo` (which provides copier); the demo lives in build/demo and is
replaced on the next run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import answer, project_env, render, run

DEFAULT_ANSWERS: dict[str, object] = {}


def make(project: Path, env: dict[str, str], *args: str) -> str:
    """`make ARGS` in the project; a failure ends the program with the command's output."""
    try:
        return run(["make", *args], project, env).stdout
    except AssertionError as error:
        sys.exit(f"{error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("destination", type=Path)
    parser.add_argument("--port", default="8000")
    args = parser.parse_args()
    project: Path = args.destination.resolve()

    if project.exists():
        if not (project / ".copier-answers.yml").exists():
            sys.exit(f"{project} exists and is not a rendered demo; move it away first")
        print(f"Replacing the previous demo in {project}")
        shutil.rmtree(project)
    print(f"Rendering the default service into {project} ...")
    render(project, DEFAULT_ANSWERS)
    env = project_env(answer(project, "python_version"))

    print("Installing (make install) ...")
    make(project, env, "install")
    print("Migrating the SQLite database (make migrate) ...")
    make(project, env, "migrate")
    output = make(project, env, "create-user", "EMAIL=admin@example.com", "ROLE=admin")
    user = json.loads(output.strip().splitlines()[-1])

    base = f"http://127.0.0.1:{args.port}"
    print(
        f"\nAdmin user : {user['email']}\n"
        f"API key    : {user['api_key']}\n"
        f"Try        : curl -H 'X-API-Key: {user['api_key']}' {base}/api/v1/me\n"
        f"Docs       : {base}/docs\n\n"
        f"Serving on {base} (make dev); press Ctrl+C to stop.\n",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        subprocess.run(["make", "dev", f"PORT={args.port}"], cwd=project, env=env, check=False)


if __name__ == "__main__":
    main()
