"""What documentation says a project has, and what a Makefile or template actually has.

Markdown is read the way a user reads commands: only code counts (fenced blocks and inline
code spans), so prose such as "make sure" is never taken for a command.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
# `make` as a command word: at the start, or after whitespace, `&&`, `;`, `(` or `|`.
MAKE_WORD = re.compile(r"(?:^|(?<=[\s;&(|]))make[ \t]+")
COMMAND_END = re.compile(r"\s#|&&|\|\||[;|)\n]")
VARIABLE = re.compile(r"^\[?([A-Z_][A-Z0-9_]*)=.*?\]?$")
TARGET = re.compile(r"^[a-z][a-z0-9-]*$")
PYTHON_MODULE = re.compile(r"python -m (app(?:\.[a-z_][a-z0-9_]*)+)")
RULE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_-]*)\s*:(?!=)(.*)$")
MAKE_REFERENCE = re.compile(r"\$\(([A-Z_][A-Z0-9_]*)\)")
JINJA_TAG = re.compile(r"\{%.*?%\}")
ANSWERS_FILE = "{{_copier_conf.answers_file}}"


@dataclass(frozen=True)
class MakeCommand:
    text: str
    targets: tuple[str, ...]
    variables: tuple[str, ...]


def code_snippets(markdown: str) -> list[str]:
    """Fenced code blocks and inline code spans, in order."""
    snippets = [match.group(2) for match in FENCE.finditer(markdown)]
    prose = FENCE.sub("", markdown)
    snippets += [match.group(2) for match in INLINE_CODE.finditer(prose)]
    return snippets


def make_commands(markdown: str) -> list[MakeCommand]:
    """Every `make ...` command shown in the code of a Markdown document."""
    commands = []
    for snippet in code_snippets(markdown):
        for match in MAKE_WORD.finditer(snippet):
            rest = snippet[match.end() :]
            end = COMMAND_END.search(rest)
            text = rest[: end.start()] if end else rest
            try:
                words = shlex.split(text)
            except ValueError:
                words = text.split()
            targets = [word for word in words if TARGET.match(word)]
            variables = [m.group(1) for word in words if (m := VARIABLE.match(word))]
            if targets:
                commands.append(
                    MakeCommand(f"make {text.strip()}", tuple(targets), tuple(variables))
                )
    return commands


def python_modules(markdown: str) -> set[str]:
    """The `python -m app....` modules a document runs."""
    return {
        match.group(1)
        for snippet in code_snippets(markdown)
        for match in PYTHON_MODULE.finditer(snippet)
    }


@dataclass
class Makefile:
    """Targets of a Makefile (rendered or .jinja), with the variables their rules reference."""

    recipes: dict[str, str] = field(default_factory=dict)
    described: set[str] = field(default_factory=set)

    @classmethod
    def parse(cls, text: str) -> Makefile:
        makefile = cls()
        current: str | None = None
        for line in text.splitlines():
            if line.startswith("\t") and current is not None:
                makefile.recipes[current] += line + "\n"
                continue
            current = None
            rule = RULE.match(line)
            if rule and not rule.group(1).startswith("."):
                current = rule.group(1)
                makefile.recipes[current] = makefile.recipes.get(current, "") + line + "\n"
                if "## " in rule.group(2):
                    makefile.described.add(current)
        return makefile

    @property
    def targets(self) -> set[str]:
        return set(self.recipes)

    def variables(self, target: str) -> set[str]:
        return set(MAKE_REFERENCE.findall(self.recipes.get(target, "")))


def module_exists(project: Path, module: str) -> bool:
    path = project.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__main__.py").is_file()


def template_paths(template: Path) -> set[str]:
    """Every file and directory a render can produce, whatever the answers (Jinja stripped)."""
    paths = set()
    for path in template.rglob("*"):
        parts = []
        for part in path.relative_to(template).parts:
            name = JINJA_TAG.sub("", part).replace(ANSWERS_FILE, ".copier-answers.yml")
            parts.append(name.removesuffix(".jinja"))
        paths.add("/".join(parts))
    return paths
