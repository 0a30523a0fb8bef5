"""Template test suite. Tiers: T0 (not marked slow), T1 (slow, test_project), T2 (update).

Each T0 variant is rendered once per pytest process and shared by every test that asks for
`rendered`; under pytest-xdist (`--dist loadgroup`) all tests of a variant go to one worker.
`--variant NAME` keeps only the T1 tests of one representative variant (or of `default`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_copie.plugin import Copie

from tests.helpers import (
    DEFAULT_GROUP,
    answer,
    project_env,
    rendered_project,
    run,
    t0_variants,
    t1_groups,
    variant_id,
)
from tests.traces import Renders

T0_VARIANTS = t0_variants()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--variant",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only the T1 tests of this group (repeatable): {', '.join(t1_groups())}",
    )


def pytest_configure(config: pytest.Config) -> None:
    unknown = sorted(set(config.getoption("variant")) - set(t1_groups()))
    if unknown:
        raise pytest.UsageError(f"--variant: unknown {', '.join(unknown)}; use {t1_groups()}")


def t1_group(item: pytest.Item) -> str | None:
    """The group of a T1 item: its representative variant, else `default`; None for others."""
    if item.get_closest_marker("slow") is None or item.get_closest_marker("update"):
        return None
    marker = item.get_closest_marker("variant")
    return str(marker.args[0]) if marker else DEFAULT_GROUP


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    groups = t1_groups()
    strays = sorted({group for item in items if (group := t1_group(item)) not in (None, *groups)})
    if strays:  # a test CI's matrix would never run
        raise pytest.UsageError(f"variant marker {', '.join(strays)} is not in {groups}")
    chosen: list[str] = config.getoption("variant")
    if chosen:
        selected = [item for item in items if t1_group(item) in chosen]
        deselected = [item for item in items if t1_group(item) not in chosen]
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected
    longest_first(items)


def longest_first(items: list[pytest.Item]) -> None:
    """T2's modules first, then T1's, then T0's, each in collection order. pytest-xdist hands
    out work in this order: the minute-long updates start first and the short tests fill in
    at the end, instead of one worker finishing an update while the other waits."""

    def tier(item: pytest.Item) -> int:
        if item.get_closest_marker("update"):
            return 0
        return 1 if item.get_closest_marker("slow") else 2

    rank: dict[Path, int] = {}
    for item in items:  # a module keeps its tests together (its fixtures are set up once)
        rank[item.path] = min(rank.get(item.path, 2), tier(item))
    items.sort(key=lambda item: rank[item.path])


@pytest.fixture(scope="session")
def renders(tmp_path_factory: pytest.TempPathFactory) -> Renders:
    return Renders(tmp_path_factory.mktemp("variants"))


@pytest.fixture(
    params=[
        pytest.param(answers, id=name, marks=pytest.mark.xdist_group(f"t0-{name}"))
        for answers, name in zip(T0_VARIANTS, map(variant_id, T0_VARIANTS), strict=True)
    ]
)
def rendered(request: pytest.FixtureRequest, renders: Renders) -> Path:
    """A T0 variant's project (rendered once, shared: tests must not modify it)."""
    return renders.project(request.param)


@pytest.fixture(scope="session")
def default_project(copie_session: Copie) -> Path:
    """T1: the default answers' project, installed (shared by the `default` group's modules)."""
    project = rendered_project(copie_session.copy(extra_answers={}))
    run(["make", "install"], project, project_env(answer(project, "python_version")))
    return project
