"""The template's own versions: tags `vX.Y.Z`, one CHANGELOG section per release, newest first,
under an `Unreleased` section; pyproject.toml carries the newest release."""

from __future__ import annotations

import datetime
import re
import subprocess
import tomllib

from tests.helpers import TEMPLATE_ROOT

RELEASE_HEADING = re.compile(r"## \[(\d+)\.(\d+)\.(\d+)\] - (\d{4}-\d{2}-\d{2})")


def changelog_headings() -> list[str]:
    text = (TEMPLATE_ROOT / "CHANGELOG.md").read_text()
    return [line for line in text.splitlines() if line.startswith("## ")]


def releases() -> list[tuple[tuple[int, int, int], datetime.date]]:
    found = []
    for heading in changelog_headings()[1:]:
        match = RELEASE_HEADING.fullmatch(heading)
        assert match, f"CHANGELOG heading {heading!r} is not '## [X.Y.Z] - YYYY-MM-DD'"
        major, minor, patch, day = match.groups()
        found.append(((int(major), int(minor), int(patch)), datetime.date.fromisoformat(day)))
    return found


def test_changelog_starts_with_unreleased_then_releases_newest_first() -> None:
    assert changelog_headings()[0] == "## Unreleased"
    listed = releases()
    versions = [version for version, _ in listed]
    assert versions == sorted(versions, reverse=True)
    assert len(set(versions)) == len(versions)
    dates = [day for _, day in listed]
    assert dates == sorted(dates, reverse=True)


def test_every_release_tag_has_a_changelog_section() -> None:
    tags = subprocess.run(
        ["git", "tag", "--list", "v*"],
        cwd=TEMPLATE_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    tagged = {
        tuple(int(number) for number in match.groups())
        for tag in tags
        if (match := re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)", tag))
    }
    assert sorted(tagged - {version for version, _ in releases()}) == []


def test_pyproject_carries_the_newest_release() -> None:
    version = tomllib.loads((TEMPLATE_ROOT / "pyproject.toml").read_text())["project"]["version"]
    listed = releases()
    if listed:
        assert version == ".".join(map(str, listed[0][0]))
    else:
        assert re.fullmatch(r"\d+\.\d+\.\d+", version)
