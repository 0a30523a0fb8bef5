"""Print the next release version: the release-candidate scheme of the release workflow.

    python scripts/next_version.py --current 0.1.1-rc.2 --bump rc      # 0.1.1-rc.3
    python scripts/next_version.py --current 0.1.1 --bump rc           # 0.1.2-rc.1
    python scripts/next_version.py --current 0.1.1-rc.3 --bump patch   # 0.1.1
    git tag --list | python scripts/next_version.py --from-tags --bump rc

Versions are `X.Y.Z` (a release) or `X.Y.Z-rc.N` (a candidate for `X.Y.Z`); a leading `v`, as
in the `vX.Y.Z` tags, is accepted. `rc` is a push to main: the next candidate. `patch`, `minor`
and `major` are stable releases: a candidate becomes the release it was a candidate for when
the bump allows it (0.1.1-rc.3 patch -> 0.1.1), otherwise the number is bumped as usual.

With `--from-tags`, the current version is the highest `vX.Y.Z[-rc.N]` among the tag names
read from standard input (one per line; other tags are ignored), or `--initial` (default: the
`version` in pyproject.toml) while there is none.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO, get_args

Bump = Literal["rc", "patch", "minor", "major"]

VERSION_PATTERN = re.compile(
    r"v?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)(?:-rc\.(?P<rc>[1-9]\d*))?"
)


@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    rc: int | None = None

    @classmethod
    def parse(cls, text: str) -> Version:
        match = VERSION_PATTERN.fullmatch(text.strip())
        if match is None:
            raise ValueError(
                f"{text!r} is not a version: expected X.Y.Z or X.Y.Z-rc.N "
                "(for example 0.1.1 or 0.1.1-rc.2, optionally with a leading v)"
            )
        rc = int(match["rc"]) if match["rc"] else None
        return cls(int(match["major"]), int(match["minor"]), int(match["patch"]), rc)

    def sort_key(self) -> tuple[int, int, int, int, int]:
        """Candidates come before their release: 0.1.1-rc.9 < 0.1.1 < 0.1.2-rc.1."""
        is_release = self.rc is None
        return (self.major, self.minor, self.patch, int(is_release), self.rc or 0)

    def __str__(self) -> str:
        base = f"{self.major}.{self.minor}.{self.patch}"
        return base if self.rc is None else f"{base}-rc.{self.rc}"


def next_version(current: Version, bump: Bump) -> Version:
    """The version that follows `current` for a push to main (`rc`) or a stable release."""
    major, minor, patch, rc = current.major, current.minor, current.patch, current.rc
    if bump == "rc":
        if rc is not None:
            return Version(major, minor, patch, rc + 1)
        return Version(major, minor, patch + 1, 1)
    if bump == "patch":
        return Version(major, minor, patch if rc is not None else patch + 1)
    if bump == "minor":
        if rc is not None and patch == 0:
            return Version(major, minor, 0)
        return Version(major, minor + 1, 0)
    if rc is not None and minor == 0 and patch == 0:
        return Version(major, 0, 0)
    return Version(major + 1, 0, 0)


def latest(tags: list[str]) -> Version | None:
    """The highest version among tag names; tags outside the scheme are ignored."""
    versions = []
    for tag in tags:
        try:
            versions.append(Version.parse(tag))
        except ValueError:
            continue
    return max(versions, key=Version.sort_key, default=None)


def pyproject_version(path: Path) -> Version:
    try:
        with path.open("rb") as file:
            text = tomllib.load(file)["project"]["version"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as error:
        raise ValueError(f"cannot read [project].version from {path}: {error}") from error
    return Version.parse(text)


def parse_version(text: str) -> Version:
    try:
        return Version.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: list[str] | None = None, stdin: TextIO = sys.stdin) -> int:
    parser = argparse.ArgumentParser(description="Print the next release version.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--current", type=parse_version, help="the current version")
    source.add_argument(
        "--from-tags", action="store_true", help="read tag names from standard input"
    )
    parser.add_argument("--bump", required=True, choices=get_args(Bump))
    parser.add_argument(
        "--initial",
        type=parse_version,
        help="with --from-tags, the version while no tag matches (default: pyproject.toml's)",
    )
    args = parser.parse_args(argv)

    current: Version | None = args.current
    if current is None:
        current = latest(stdin.read().splitlines()) or args.initial
        if current is None:
            try:
                current = pyproject_version(Path("pyproject.toml"))
            except ValueError as error:
                parser.error(str(error))
    sys.stdout.write(f"{next_version(current, args.bump)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
