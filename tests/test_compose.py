"""T0: the compose stack of every variant matches the compose spec, runs the images in order
(PostgreSQL, the migrations once, then the api and, with Prefect, its server and the worker),
and takes every variable from the sample environment."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.helpers import answer, check_jsonschema


def compose_files(project: Path) -> list[Path]:
    return sorted([*project.glob("docker-compose*.yml"), *project.glob("compose*.yaml")])


def test_compose_files_match_the_compose_spec(rendered: Path) -> None:
    files = compose_files(rendered)
    assert [path.name for path in files] == ["docker-compose.yml"]
    check_jsonschema("--builtin-schema", "vendor.compose-spec", *files)


def test_the_compose_stack_runs_the_images_in_order(rendered: Path) -> None:
    compose = yaml.safe_load((rendered / "docker-compose.yml").read_text())
    services = compose["services"]
    expected = {"dbapp", "migrations", "api"}
    if answer(rendered, "use_prefect"):
        expected |= {"prefect-server", "worker"}
    assert set(services) == expected

    for name in {"migrations", "api", "worker"} & expected:
        # The image's own command runs: the one the tests run (see above).
        assert services[name]["build"] == {"context": ".", "target": name}
        assert "command" not in services[name]
        assert "entrypoint" not in services[name]
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgresql+asyncpg://")
    dbapp = services["dbapp"]
    assert "healthcheck" in dbapp
    assert dbapp["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    assert services["migrations"]["depends_on"] == {"dbapp": {"condition": "service_healthy"}}
    assert services["migrations"]["restart"] == "no"
    done = {"condition": "service_completed_successfully"}
    assert services["api"]["depends_on"] == {"migrations": done}
    if answer(rendered, "use_prefect"):
        server = services["prefect-server"]
        login = "${PREFECT_LOGIN_USER:-admin}:${PREFECT_LOGIN_PASSWORD:-change-me}"
        assert server["environment"]["PREFECT_SERVER_API_AUTH_STRING"] == login
        assert "healthcheck" in server
        worker = services["worker"]
        assert worker["environment"]["PREFECT_API_AUTH_STRING"] == login
        assert worker["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"
        assert worker["depends_on"] == {
            "migrations": done,
            "prefect-server": {"condition": "service_healthy"},
        }


def test_every_compose_variable_is_in_the_sample_environment(rendered: Path) -> None:
    used = set(
        re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", (rendered / "docker-compose.yml").read_text())
    )
    sample = (rendered / ".env.sample").read_text()
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", sample, re.MULTILINE))
    assert used
    assert used <= listed
    assert ("PREFECT_LOGIN_PASSWORD" in used) is answer(rendered, "use_prefect")
