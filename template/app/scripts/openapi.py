"""The API's contract: `openapi.json`, the OpenAPI document the service serves, committed.

    python -m app.scripts.openapi            write openapi.json (make openapi)
    python -m app.scripts.openapi --check    exit 1 if openapi.json differs from the served one

A route, schema or status code that changes shows up in review as a change of openapi.json, and
tests/api/test_openapi_contract.py fails until the file is written again. The document is built
from the code with the settings' defaults (no .env, no environment), so every machine writes the
same bytes; `info.version` is left out, since a release changes it and nothing else.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from app.api.main import create_app
from app.infrastructure.config import Settings

DOCUMENT = Path(__file__).resolve().parents[2] / "openapi.json"


class _DefaultSettings(Settings):
    """The settings' defaults only: nothing from the environment or a .env file."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def served() -> dict[str, Any]:
    """The document the service serves, without `info.version`."""
    document = create_app(_DefaultSettings()).openapi()
    info = {key: value for key, value in document["info"].items() if key != "version"}
    return {**document, "info": info}


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def changes(committed: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs: each path and component (schema, security scheme, ...) added, removed or
    changed, then each other top-level part that changed."""
    parts = [("path", committed.get("paths", {}), current.get("paths", {}))]
    before_components = committed.get("components", {})
    after_components = current.get("components", {})
    for kind in sorted(before_components.keys() | after_components.keys()):
        label = "schema" if kind == "schemas" else kind
        parts.append((label, before_components.get(kind, {}), after_components.get(kind, {})))
    lines = []
    for label, before, after in parts:
        for name in sorted(before.keys() | after.keys()):
            if name not in after:
                lines.append(f"removed {label} {name}")
            elif name not in before:
                lines.append(f"added {label} {name}")
            elif before[name] != after[name]:
                lines.append(f"changed {label} {name}")
    others = sorted((committed.keys() | current.keys()) - {"paths", "components"})
    lines += [f"changed {key}" for key in others if committed.get(key) != current.get(key)]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if openapi.json is out of date")
    check = parser.parse_args(argv).check
    text = render(served())
    if not check:
        DOCUMENT.write_text(text, encoding="utf-8")
        print(f"wrote {DOCUMENT.name}")
        return 0
    if not DOCUMENT.is_file():
        print(f"{DOCUMENT.name} is missing: run make openapi and commit it", file=sys.stderr)
        return 1
    committed = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    if committed != json.loads(text):
        details = "\n".join(f"  {line}" for line in changes(committed, json.loads(text)))
        print(f"{DOCUMENT.name} is out of date: run make openapi\n{details}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
