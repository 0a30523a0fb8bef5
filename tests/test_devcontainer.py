"""T0: the development container of every variant. Its devcontainer.json matches the dev
container schema (vendored in tests/schemas, no network) and its compose override the compose
spec; it runs a `dev` service merged over the project's compose stack, next to the stack's
PostgreSQL with the stack's credentials; its lifecycle commands are make targets; it forwards
the ports the project serves; its image has the project's Python and the images' uv; and the
images' build context leaves it out."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from tests.dockerfile import dockerfile_stages
from tests.documented import Makefile, code_snippets, template_paths
from tests.helpers import TEMPLATE_ROOT, answer, check_jsonschema, run, tool
from tests.test_images import dockerignore_excludes

SCHEMA = Path(__file__).with_name("schemas") / "devContainer.base.schema.json"
CONFIG = Path(".devcontainer") / "devcontainer.json"
# A compose DATABASE_URL: variables for the credentials and database, a service for the host.
COMPOSE_URL = re.compile(
    r"postgresql\+asyncpg://(?P<user>\$\{\w+:-\w+\}):(?P<password>\$\{\w+:-\w+\})"
    r"@(?P<host>[a-z][a-z0-9-]*):(?P<port>\d+)/(?P<database>\$\{\w+:-\w+\})"
)


def config(project: Path) -> dict[str, Any]:
    """devcontainer.json, plain JSON (no comments)."""
    return json.loads((project / CONFIG).read_text())


def compose_files(project: Path) -> list[Path]:
    files = config(project)["dockerComposeFile"]
    return [(project / CONFIG.parent / name).resolve() for name in files]


def compose(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def merged_services(project: Path) -> dict[str, dict[str, Any]]:
    """Services of the compose files in order; a later file's keys override (one level)."""
    services: dict[str, dict[str, Any]] = {}
    for path in compose_files(project):
        for name, service in compose(path).get("services", {}).items():
            services[name] = {**services.get(name, {}), **service}
    return services


def override(project: Path) -> dict[str, Any]:
    """The compose file of .devcontainer/, which adds the development service."""
    [path] = [path for path in compose_files(project) if path.parent.name == ".devcontainer"]
    return compose(path)


def container_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(port).rsplit(":", 1)[-1]) for port in service.get("ports", [])}


def test_devcontainer_json_matches_the_dev_container_schema(rendered: Path) -> None:
    check_jsonschema("--schemafile", SCHEMA, rendered / CONFIG)
    assert config(rendered)["remoteUser"] not in ("", "root")


def test_its_compose_files_exist_and_match_the_compose_spec(rendered: Path) -> None:
    files = compose_files(rendered)
    assert files[0] == rendered / "docker-compose.yml"
    assert [path.relative_to(rendered).as_posix() for path in files[1:]] == [
        ".devcontainer/compose.yml"
    ]
    check_jsonschema("--builtin-schema", "vendor.compose-spec", *files)


def test_it_runs_its_service_next_to_the_stack_database(rendered: Path) -> None:
    settings = config(rendered)
    services = merged_services(rendered)
    stack = compose(rendered / "docker-compose.yml")["services"]
    name = settings["service"]
    assert name in services
    assert name not in stack
    assert set(settings["runServices"]) <= set(services)
    assert name in settings["runServices"]
    # Opening a fresh project builds no image of the project's Dockerfile: they need uv.lock.
    started = [services[service] for service in settings["runServices"]]
    assert [s for s in started if s.get("build", {}).get("context") == "."] == []

    dev = override(rendered)["services"][name]
    assert dev["depends_on"] == {"dbapp": {"condition": "service_healthy"}}
    assert "healthcheck" in stack["dbapp"]
    assert "dbapp" in settings["runServices"]
    # Paths are the first compose file's: `.` is the project, mounted where the editor opens.
    assert dev["volumes"] == [f".:{settings['workspaceFolder']}:cached"]
    context = rendered / dev["build"]["context"]
    assert context == rendered / ".devcontainer"
    assert (context / dev["build"].get("dockerfile", "Dockerfile")).is_file()


def test_it_uses_the_stack_database_and_credentials(rendered: Path) -> None:
    stack = compose(rendered / "docker-compose.yml")["services"]
    dev = override(rendered)["services"][config(rendered)["service"]]
    environment = dev["environment"]
    # The stack's api gets its DATABASE_URL from the same anchor as the migrations.
    assert environment["DATABASE_URL"] == stack["api"]["environment"]["DATABASE_URL"]
    # The tests' PostgreSQL tier runs on the same server (in a temporary database).
    assert environment["TEST_DATABASE_URL"] == environment["DATABASE_URL"]
    url = COMPOSE_URL.fullmatch(environment["DATABASE_URL"])
    assert url is not None, environment["DATABASE_URL"]
    database = stack[url["host"]]
    assert database["image"].startswith("postgres:")
    assert int(url["port"]) in container_ports(database)
    assert url["user"] == database["environment"]["POSTGRES_USER"]
    assert url["password"] == database["environment"]["POSTGRES_PASSWORD"]
    assert url["database"] == database["environment"]["POSTGRES_DB"]
    # With Prefect, `make worker` in the container reaches the stack's server as its worker does.
    prefect = ("PREFECT_API_URL", "PREFECT_API_AUTH_STRING")
    if answer(rendered, "use_prefect"):
        worker = stack["worker"]["environment"]
        assert {name: environment[name] for name in prefect} == {
            name: worker[name] for name in prefect
        }
    else:
        assert not set(prefect) & set(environment)

    text = (rendered / ".devcontainer" / "compose.yml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", text))
    sample = (rendered / ".env.sample").read_text()
    assert used <= set(re.findall(r"^([A-Z][A-Z0-9_]*)=", sample, re.MULTILINE))


def test_its_commands_are_make_targets(rendered: Path) -> None:
    """Creating the container installs, starting it migrates: the targets a user runs."""
    settings = config(rendered)
    targets = Makefile.parse((rendered / "Makefile").read_text()).targets
    commands = {
        key: shlex.split(value) for key, value in settings.items() if key.endswith("Command")
    }
    assert commands == {
        "postCreateCommand": ["make", "install"],
        "postStartCommand": ["make", "migrate"],
    }
    for key, words in commands.items():
        assert set(words[1:]) <= targets, key


def test_it_forwards_the_ports_the_project_serves(rendered: Path) -> None:
    forwarded = config(rendered)["forwardPorts"]
    makefile = (rendered / "Makefile").read_text()
    port = re.search(r"^PORT \?= (\d+)$", makefile, re.MULTILINE)
    assert port is not None
    assert "--port $(PORT)" in Makefile.parse(makefile).recipes["dev"]
    stack = compose(rendered / "docker-compose.yml")["services"]
    # `make dev` serves in the container; the stack's api serves the same port.
    assert [p for p in forwarded if isinstance(p, int)] == [int(port[1])]
    assert int(port[1]) in container_ports(stack["api"])
    # Other services' ports are forwarded as service:port.
    remote = [p.split(":") for p in forwarded if isinstance(p, str)]
    for service, number in remote:
        assert int(number) in container_ports(stack[service]), service
    expected = [["prefect-server", "4200"]] if answer(rendered, "use_prefect") else []
    assert remote == expected
    if expected:
        assert "prefect-server" in config(rendered)["runServices"]


def test_its_image_has_the_project_python_and_the_images_uv(rendered: Path) -> None:
    dockerfile = rendered / ".devcontainer" / "Dockerfile"
    run([tool("hadolint"), "--no-color", str(dockerfile)], rendered, os.environ)
    stages = dockerfile_stages(dockerfile.read_text())
    images = dockerfile_stages((rendered / "Dockerfile").read_text())
    python_version = answer(rendered, "python_version")
    assert (rendered / ".python-version").read_text().strip() == python_version
    assert list(stages) == ["uv", "dev"]
    assert re.fullmatch(
        rf"mcr\.microsoft\.com/devcontainers/python:\d+-{re.escape(python_version)}-trixie",
        stages["dev"].base,
    )
    assert images["base"].base.startswith(f"python:{python_version}-slim-trixie")
    # The same uv as the images (a digest pinned on one side only does not matter here).
    assert stages["uv"].base.split("@")[0] == images["uv"].base.split("@")[0]
    assert stages["dev"].instructions == [("COPY", "--from=uv /uv /uvx /usr/local/bin/")]


def test_the_images_build_context_leaves_it_out(rendered: Path) -> None:
    patterns = [
        line.strip()
        for line in (rendered / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert dockerignore_excludes(patterns, ".devcontainer")


def named_files(markdown: str) -> set[str]:
    """The .devcontainer/ paths that a document's code names."""
    return {
        path.rstrip("/")
        for snippet in code_snippets(markdown)
        for path in re.findall(r"\.devcontainer/[\w./-]*", snippet)
    }


def test_the_devcontainer_files_the_readme_names_exist(rendered: Path) -> None:
    named = named_files((rendered / "README.md").read_text())
    assert named
    assert sorted(path for path in named if not (rendered / path).exists()) == []


def test_the_devcontainer_files_the_docs_name_exist() -> None:
    pages = "\n".join(page.read_text() for page in (TEMPLATE_ROOT / "docs").glob("*.md"))
    named = named_files(pages)
    assert named
    assert sorted(named - template_paths(TEMPLATE_ROOT / "template")) == []
