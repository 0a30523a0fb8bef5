"""Bring the project to the template's newest release, on a branch, ready for a pull request.

    python3 scripts/template_update.py [--check] [--branch template-update] [--remote origin]
                                       [--output DIR]

1. Reads the template's source and the release the project was rendered from
   (`.copier-answers.yml`), and the template's releases (`vX.Y.Z` tags, `git ls-remote`).
2. Stops, changing nothing, when the project is already at the newest release, or when the
   branch on `--remote` already holds the update to it (a pull request waiting for review).
   A branch holding an older update with commits of a person's is never replaced: the run
   stops and says so.
3. Otherwise runs `copier update` to that release with the recorded answers (`$COPIER`, default
   `uvx --with copier-template-extensions copier`), then, with `--check`, `make install check`.
4. Commits the result on `--branch` (created from the current commit, the commit marked with a
   `Template-Update:` trailer) and writes the pull request's title and body to `--output`: the
   versions, the template's CHANGELOG entries between them, the files left with conflict
   markers or `.rej` files, and how `make check` ended. Conflicts are committed as they are,
   for a person to resolve on the branch.

It prints `updated=true|false`, `version=vX.Y.Z`, `checks=passed|failed|skipped` and, after an
update, `lease=` the commit the remote branch was at (empty: none), and appends them to
`$GITHUB_OUTPUT` when that is set. The workflow `.github/workflows/template-update.yml` runs it
weekly and pushes the branch with `--force-with-lease` on that commit; opening the pull request
is the workflow's only step of its own.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ANSWERS_FILE = ".copier-answers.yml"
DEFAULT_COPIER = "uvx --with copier-template-extensions copier"
RELEASE = re.compile(r"v(\d+)\.(\d+)\.(\d+)")
# A CHANGELOG section title: `## [1.2.3] - 2026-01-31`, `## v1.2.3` or `## 1.2.3`.
HEADING = re.compile(r"^## .*$", re.MULTILINE)
SECTION = re.compile(r"## \[?v?(\d+\.\d+\.\d+)\]?.*")
CHECK_OUTPUT_LINES = 40
# GitHub refuses a pull request body over 65,536 characters; the CHANGELOG is cut to fit.
MAX_BODY = 65_000
CHANGELOG_SLOT = "\0changelog\0"
HOSTED = re.compile(r"https://(github\.com|gitlab\.com)/(.+?)(?:\.git)?/?")
# What the template's update steps print when conflicts made them wait: the command that
# finishes the update once the conflicts are resolved.
FINISH = re.compile(r"then run `(make [^`\n]+)`")
# The trailer of the commits this script makes: any other commit on the branch is a person's.
TRAILER = "Template-Update"
# Copier's shortcuts for a template's source, expanded as Copier expands them.
SHORTCUTS = {"gh:": "https://github.com/", "gl:": "https://gitlab.com/"}
# A remote git source (a URL, or scp-like `git@host:owner/repo`), not a local path.
REMOTE = re.compile(r"^[\w+.-]+://|^[\w.-]+@[\w.-]+:")


def version(tag: str) -> tuple[int, int, int]:
    match = RELEASE.match(tag)
    if match is None:
        raise ValueError(f"{tag!r} is not a release tag (vX.Y.Z)")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def recorded(answers_text: str, key: str) -> str | None:
    """A top-level value of the answers file (Copier writes them one per line)."""
    match = re.search(rf"^{re.escape(key)}:[ \t]*(.*?)[ \t]*$", answers_text, re.MULTILINE)
    return match.group(1).strip("'\"") if match and match.group(1) else None


def current_release(commit: str | None) -> str | None:
    """The release a project was rendered from: `v1.2.3`, or what `v1.2.3-4-gabcdef` follows."""
    match = RELEASE.match(commit or "")
    return match.group(0) if match else None


def newest_release(tags: list[str]) -> str | None:
    releases = [tag for tag in tags if RELEASE.fullmatch(tag)]
    return max(releases, key=version) if releases else None


def changelog_between(changelog: str, old: str | None, new: str) -> str:
    """The CHANGELOG sections of the releases after `old` up to `new`, as they are ordered."""
    headings = list(HEADING.finditer(changelog))
    sections = []
    for index, heading in enumerate(headings):
        title = SECTION.fullmatch(heading.group(0))
        if title is None:  # Unreleased, or another heading of the same level
            continue
        number = version("v" + title.group(1))
        if number > version(new) or (old is not None and number <= version(old)):
            continue
        end = headings[index + 1].start() if index + 1 < len(headings) else len(changelog)
        sections.append(changelog[heading.start() : end].strip())
    return "\n\n".join(sections)


def conflicted_files(project: Path) -> list[str]:
    """Files an update left unmerged: conflict markers, or a `.rej` file beside them."""
    listed = git(project, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    found = []
    # A file the update left unmerged is listed once per side of the merge: once is enough.
    for name in sorted(set(filter(None, listed.split("\0")))):
        path = project / name
        if name.endswith(".rej"):
            found.append(name)
        elif path.is_file():
            text = path.read_bytes()
            if text.startswith(b"<<<<<<< ") or b"\n<<<<<<< " in text:
                found.append(name)
    return found


def git_source(source: str) -> str:
    """What `git` understands of the `_src_path` Copier recorded: its `gh:` and `gl:` shortcuts
    become https URLs, `git+` is dropped; a local path must exist on this machine."""
    for shortcut, base in SHORTCUTS.items():
        if source.startswith(shortcut):
            path = source.removeprefix(shortcut).lstrip("/")
            return base + (path if path.endswith(".git") else path + ".git")
    source = source.removeprefix("git+")
    if REMOTE.match(source):
        return source
    if not Path(source).expanduser().exists():
        raise SystemExit(
            f"The project was rendered from a local path, {source}, which is not on this "
            "machine: set `_src_path` in .copier-answers.yml to the template's git URL (for "
            "example gh:owner/template), or render the project from that URL."
        )
    return str(Path(source).expanduser())


def git(project: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", *args], cwd=project, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {completed.stderr.strip()}")
    return completed.stdout


def release_tags(source: str) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-remote", "--tags", "--refs", source],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if listed.returncode != 0:
        raise SystemExit(f"cannot list the template's tags at {source}: {listed.stderr.strip()}")
    return [line.rsplit("refs/tags/", 1)[-1] for line in listed.stdout.splitlines()]


def template_changelog(source: str, tag: str) -> str:
    with tempfile.TemporaryDirectory() as directory:
        clone = subprocess.run(
            ["git", "clone", "--quiet", "--depth", "1", "--branch", tag, source, directory],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        changelog = Path(directory) / "CHANGELOG.md"
        if clone.returncode != 0 or not changelog.is_file():
            return ""
        return changelog.read_text(encoding="utf-8")


def finishing_commands(output: str) -> list[str]:
    """The commands the update's steps left to run (in `copier update`'s output), in order,
    without one that a longer one already runs (`make install openapi` beside
    `make install migrate-sync ... openapi`)."""
    found = list(dict.fromkeys(FINISH.findall(output)))
    words = {command: set(shlex.split(command)) for command in found}
    return [
        command
        for command in found
        if not any(other != command and words[command] <= words[other] for other in found)
    ]


def run_shown(command: list[str], project: Path) -> tuple[int, str]:
    """Run `command` in the project, its output shown as it comes; its status and output."""
    lines = []
    with subprocess.Popen(
        command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        for line in process.stdout or ():
            print(line, end="", flush=True)
            lines.append(line)
    return process.returncode, "".join(lines)


def changelog_link(source: str, tag: str) -> str:
    """Where a reader finds the template's CHANGELOG at `tag`: a link on GitHub or GitLab."""
    hosted = HOSTED.fullmatch(source)
    if hosted is None:
        return f"`CHANGELOG.md` of the template ({source}) at {tag}"
    host, path = hosted.groups()
    blob = "blob" if host == "github.com" else "-/blob"
    return f"https://{host}/{path}/{blob}/{tag}/CHANGELOG.md"


def shortened(text: str, limit: int, note: str) -> str:
    """`text`, or as many of its first lines as fit in `limit` characters with `note` after."""
    if len(text) <= limit:
        return text
    kept = text[: max(0, limit - len(note) - 2)]
    kept = kept[: kept.rfind("\n")] if "\n" in kept else ""
    return (kept.rstrip() + "\n\n" + note).lstrip()


@dataclass
class Checks:
    status: str  # passed, failed or skipped
    output: str = ""


def run_checks(project: Path) -> Checks:
    completed = subprocess.run(
        ["make", "install", "check"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    tail = (completed.stdout + completed.stderr).splitlines()[-CHECK_OUTPUT_LINES:]
    return Checks("passed" if completed.returncode == 0 else "failed", "\n".join(tail))


def pull_request_body(
    old: str | None,
    new: str,
    changelog: str,
    conflicts: list[str],
    checks: Checks,
    finish: Sequence[str] = (),
    changelog_url: str = "the template's CHANGELOG.md",
) -> str:
    parts = [
        f"`copier update` from {old or 'an unreleased revision'} to **{new}** of the template, "
        "with the answers in `.copier-answers.yml`."
    ]
    if conflicts:
        listed = "\n".join(f"- `{name}`" for name in conflicts)
        steps = (
            "then finish the update: its last steps waited for the conflicts to be resolved."
            "\n\n```bash\n" + "\n".join(finish) + "\n```\n\nCommit, and push to this branch."
            if finish
            else "then push to this branch."
        )
        parts.append(
            "## Conflicts to resolve\n\nThe update could not merge these with your changes: "
            "resolve the conflict markers (`<<<<<<<`), apply what the `.rej` files hold and "
            f"delete them, {steps}\n\n{listed}"
        )
    if checks.status == "passed":
        parts.append("## Checks\n\n`make check` passed after the update.")
    elif checks.status == "failed":
        parts.append(
            "## Checks\n\n`make check` **failed** after the update; its last lines:\n\n"
            f"```\n{checks.output}\n```"
        )
    parts.append("## What changed in the template\n\n" + CHANGELOG_SLOT)
    parts.append(
        "Review the diff like any other change: the database migrations it brings, and "
        "`openapi.json` for what changed in the API."
    )
    body = "\n\n".join(parts) + "\n"
    note = f"*Cut to fit in a pull request: the rest is in {changelog_url}.*"
    entries = changelog or "The template's CHANGELOG has no section for these releases."
    room = MAX_BODY - len(body) + len(CHANGELOG_SLOT)
    body = body.replace(CHANGELOG_SLOT, shortened(entries, room, note))
    return shortened(body, MAX_BODY, note)


def report(values: dict[str, str]) -> None:
    lines = [f"{key}={value}" for key, value in values.items()]
    print("\n".join(lines))
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with open(output, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")


def remote_tip(project: Path, remote: str, branch: str) -> str | None:
    """The commit `branch` is at on `remote`, fetched when the remote answers (else as last
    fetched: the workflow's checkout fetches every branch), or None when it has no such branch."""
    tracking = f"refs/remotes/{remote}/{branch}"
    fetched = subprocess.run(
        ["git", "fetch", "--quiet", remote, f"+refs/heads/{branch}:{tracking}"],
        cwd=project,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},  # no credentials: answer, not ask
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if "couldn't find remote ref" in fetched.stderr:  # deleted since it was last fetched
        subprocess.run(["git", "update-ref", "-d", tracking], cwd=project, check=False)
    found = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", tracking + "^{commit}"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() or None


def branch_lease(project: Path, remote: str, branch: str, new: str) -> str | None:
    """The commit of the remote `branch` that the new update may replace ("" when there is no
    such branch), or None when the branch already holds the update to `new`: left alone.

    The branch holding an older update with commits this script did not make (a person's
    conflict resolution) stops the run: they are never overwritten."""
    tip = remote_tip(project, remote, branch)
    if tip is None:
        return ""
    shown = subprocess.run(
        ["git", "show", f"{tip}:{ANSWERS_FILE}"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    held = current_release(recorded(shown.stdout, "_commit")) if shown.returncode == 0 else None
    if held == new:
        return None
    answers = (project / ANSWERS_FILE).read_text(encoding="utf-8")
    merged = current_release(recorded(answers, "_commit"))
    if held is not None and merged is not None and version(held) <= version(merged):
        return tip  # main has that update already (merged, squashed or done by hand)
    # The script's commits before it added its trailer have its title.
    ours = [f"--grep=^{TRAILER}: ", "--grep=^chore: update the template from .* to v[0-9]"]
    theirs = git(
        project, "log", "--no-merges", "--invert-grep", *ours, "--format=%h %s", f"HEAD..{tip}"
    ).splitlines()
    if theirs:
        raise SystemExit(
            f"The branch {branch} holds the update to {held or 'an earlier release'} with "
            f"commits the template update did not make ({'; '.join(theirs)}), so it was not "
            f"replaced by the update to {new}: merge or close its pull request and delete the "
            "branch, and the next run updates to the newest release."
        )
    return tip


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="run make install check after it")
    parser.add_argument("--branch", default="template-update", help="the branch to commit on")
    parser.add_argument(
        "--remote", default="origin", help="where the branch is pushed (its state is read)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(tempfile.gettempdir()) / "template-update",
        help="the directory to write pr-title.txt and pr-body.md to",
    )
    return parser.parse_args(argv)


def update(
    project: Path, arguments: argparse.Namespace, source: str, old: str | None, new: str
) -> str:
    """`copier update` to `new` on the branch, committed, and the pull request's title and body
    written; the status of the checks."""
    git(project, "switch", "--quiet", "-C", arguments.branch)
    copier = shlex.split(os.environ.get("COPIER", DEFAULT_COPIER))
    command = [*copier, "update", "--trust", "--defaults", "--vcs-ref", new]
    print("$ " + shlex.join(command), flush=True)
    status, output = run_shown(command, project)
    if status != 0:
        raise SystemExit("copier update failed (above); the project is left as it was updated")
    conflicts = conflicted_files(project)
    checks = run_checks(project) if arguments.check else Checks("skipped")

    title = f"chore: update the template from {old or 'an unreleased revision'} to {new}"
    changelog = changelog_between(template_changelog(source, new), old, new)
    finish = finishing_commands(output) if conflicts else []
    link = changelog_link(source, new)
    body = pull_request_body(old, new, changelog, conflicts, checks, finish, link)
    git(project, "add", "--all")
    message = f"{title}\n\n{TRAILER}: {new}"
    git(project, "commit", "--quiet", "--no-verify", "--allow-empty", "-m", message)
    arguments.output.mkdir(parents=True, exist_ok=True)
    (arguments.output / "pr-title.txt").write_text(title + "\n", encoding="utf-8")
    (arguments.output / "pr-body.md").write_text(body, encoding="utf-8")
    return checks.status


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    project = Path.cwd()
    answers = (project / ANSWERS_FILE).read_text(encoding="utf-8")
    recorded_source = recorded(answers, "_src_path")
    if recorded_source is None:
        raise SystemExit(f"{ANSWERS_FILE} records no _src_path: was this project rendered?")
    source = git_source(recorded_source)
    old = current_release(recorded(answers, "_commit"))
    new = newest_release(release_tags(source))
    if new is None:
        raise SystemExit(f"the template at {source} has no release tag (vX.Y.Z)")
    if old is not None and version(old) >= version(new):
        print(f"The project is at {old}, the template's newest release: nothing to do.")
        report({"updated": "false", "version": old, "checks": "skipped"})
        return 0
    if git(project, "status", "--porcelain").strip():
        raise SystemExit("the working tree has changes: commit or stash them first")
    lease = branch_lease(project, arguments.remote, arguments.branch, new)
    if lease is None:
        print(
            f"The branch {arguments.branch} already holds the update to {new}: left as it is "
            "(its pull request waits for a review)."
        )
        report({"updated": "false", "version": new, "checks": "skipped"})
        return 0
    status = update(project, arguments, source, old, new)
    report({"updated": "true", "version": new, "checks": status, "lease": lease})
    return 0


if __name__ == "__main__":
    sys.exit(main())
