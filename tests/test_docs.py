"""T3: the documentation site builds strictly, and what it says about the template cannot drift
from the template: every question of copier.yml has a section (the build fails otherwise), the
benchmark tables are the recorded results, the quick start is the README's, and every make
command, project file, module and setting the pages mention exists in the template.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mkdocs.exceptions import PluginError

from tests.documented import (
    Makefile,
    code_snippets,
    make_commands,
    python_modules,
    template_paths,
)
from tests.helpers import TEMPLATE_ROOT
from tools import docs_hooks

DOCS = TEMPLATE_ROOT / "docs"
TEMPLATE = TEMPLATE_ROOT / "template"
RESULTS = TEMPLATE_ROOT / "bench" / "results" / "latest.json"
PAGES = sorted(DOCS.glob("*.md"))

# Documented from the specification while the feature that provides them is being merged.
# Each entry must leave its list once the template has it: test_pending_items_are_still_missing
# fails until it does.
PENDING_TARGETS: set[str] = set()
PENDING_VARIABLES: set[tuple[str, str]] = set()
PENDING_PATHS: set[str] = set()
PENDING_MODULES: set[str] = set()
PENDING_SETTINGS: set[str] = set()

# Inline code that names a file or directory of a rendered project.
PROJECT_PATH = re.compile(
    r"(?:app|migrations|tests|scripts|\.github)/[A-Za-z0-9_./-]*"
    r"|Makefile|Dockerfile|docker-compose\.yml|\.env\.sample|pyproject\.toml|\.python-version"
    r"|alembic\.ini|LICENSE|\.copier-answers\.yml|\.pre-commit-config\.yaml|\.dockerignore"
)
SETTING_ROW = re.compile(r"^\|\s*((?:`[A-Z][A-Z0-9_]*`(?:,\s*)?)+)\s*\|", re.MULTILINE)
SAMPLE_SETTING = re.compile(r"^([A-Z][A-Z0-9_]*)=", re.MULTILINE)


def docs_text() -> str:
    return "\n".join(page.read_text() for page in PAGES)


def template_makefile() -> Makefile:
    return Makefile.parse((TEMPLATE / "Makefile.jinja").read_text())


def documented_paths() -> set[str]:
    return {
        snippet.rstrip("/")
        for snippet in code_snippets(docs_text())
        if PROJECT_PATH.fullmatch(snippet.rstrip("/"))
    }


def documented_settings() -> set[str]:
    return {
        name
        for cell in SETTING_ROW.findall(docs_text())
        for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", cell)
    }


def sample_settings() -> set[str]:
    return set(SAMPLE_SETTING.findall((TEMPLATE / ".env.sample.jinja").read_text()))


def test_every_page_is_in_the_navigation() -> None:
    config = (TEMPLATE_ROOT / "mkdocs.yml").read_text()
    assert [page.name for page in PAGES if f": {page.name}" not in config] == []


@pytest.mark.docs
def test_the_site_builds_strictly(tmp_path: Path) -> None:
    site = tmp_path / "site"
    completed = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=TEMPLATE_ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    questions = (site / "questions" / "index.html").read_text()
    for name in docs_hooks.load_questions(TEMPLATE_ROOT / "copier.yml"):
        assert f'id="{name}"' in questions, name
    benchmarks = (site / "benchmarks" / "index.html").read_text()
    results = json.loads(RESULTS.read_text())
    for ratio in results["ratios_to_bare"].values():
        assert f"{ratio:.3f}" in benchmarks


def test_every_question_has_a_section_with_its_facts() -> None:
    questions = docs_hooks.load_questions(TEMPLATE_ROOT / "copier.yml")
    page = docs_hooks.render_questions_page((DOCS / "questions.md").read_text(), questions)
    assert "{%" not in page
    for spec in questions.values():
        for line in spec["help"].strip().splitlines():
            assert line.strip() in page
        if rule := docs_hooks.refusal(spec):
            assert "{{" not in rule
            assert rule in page


def test_a_question_without_a_section_fails_the_build() -> None:
    questions = docs_hooks.load_questions(TEMPLATE_ROOT / "copier.yml")
    markdown = (DOCS / "questions.md").read_text()
    added = {**questions, "use_redis": {"type": "bool", "help": "Add Redis.", "default": False}}
    with pytest.raises(PluginError, match=r"no section for the question\(s\) use_redis"):
        docs_hooks.render_questions_page(markdown, added)
    removed = {name: spec for name, spec in questions.items() if name != "license"}
    with pytest.raises(PluginError, match="sections for no question: license"):
        docs_hooks.render_questions_page(markdown, removed)


def test_validator_messages_become_rules() -> None:
    spec = {
        "validator": '{% if not (x | ok) %}x must match ^[a-z]+$, got "{{ x }}".{% endif %}',
    }
    assert docs_hooks.refusal(spec) == "x must match ^[a-z]+$."
    spec = {"validator": "{% if bad %}x must be short (got {{ x | length }}).{% endif %}"}
    assert docs_hooks.refusal(spec) == "x must be short."
    assert docs_hooks.refusal({}) == ""


def test_the_benchmark_tables_are_the_recorded_results(tmp_path: Path) -> None:
    markdown = (DOCS / "benchmarks.md").read_text()
    results = json.loads(RESULTS.read_text())
    page = docs_hooks.render_benchmarks_page(markdown, RESULTS)
    for name, row in results["endpoints"].items():
        assert f"| {row['rps']:,.0f} | {row['p99_ms']:.1f} |" in page, name
    for name, ratio in results["ratios_to_bare"].items():
        assert f"| {ratio:.3f} | ≥ {results['targets'][name]} |" in page, name
    assert f"{results['figures']['cold_start_seconds']:g} s" in page
    for suite in results["suite"].values():
        assert f"| {suite['tests']} | {suite['pytest_seconds']:.2f} |" in page
    assert results["commit"] in page
    [*_, newest] = sorted(RESULTS.parent.glob(docs_hooks.LOGFIRE_RESULTS))
    comparison = json.loads(newest.read_text())
    for name, ratio in comparison["variant_to_default"].items():
        assert f"{comparison['requests_per_second_median']['variant_' + name]:,.0f}" in page
        assert f"| {ratio:.3f} |" in page
    assert docs_hooks.LOGFIRE_MARKER not in page
    with pytest.raises(PluginError, match="is missing: run `nox -s bench`"):
        docs_hooks.render_benchmarks_page(markdown, tmp_path / "latest.json")
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps({k: v for k, v in results.items() if k != "suite"}))
    with pytest.raises(PluginError, match="is incomplete"):
        docs_hooks.render_benchmarks_page(markdown, incomplete)


def test_the_quick_start_is_the_readme_one() -> None:
    readme = (TEMPLATE_ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1]
    commands = re.search(r"```bash\n(.*?)```", quick_start, re.DOTALL)
    assert commands is not None
    assert commands.group(1) in (DOCS / "getting-started.md").read_text()


def test_the_readme_options_are_the_questions() -> None:
    questions = docs_hooks.load_questions(TEMPLATE_ROOT / "copier.yml")
    options = (TEMPLATE_ROOT / "README.md").read_text().split("## Options", 1)[1]
    defaults = {
        name: cells[1]
        for row in re.findall(r"^\|(.+)\|$", options.split("\n## ", 1)[0], re.MULTILINE)
        if len(cells := [cell.strip() for cell in row.split("|")]) > 1
        for name in re.findall(r"`([a-z_]+)`", cells[0])
    }
    assert list(defaults) == list(questions)
    for name, spec in questions.items():
        default = spec.get("default")
        if isinstance(default, bool | int | float) or "{{" not in str(default):
            expected = str(default).lower() if isinstance(default, bool) else str(default)
            assert defaults[name] == expected, name


def test_every_make_command_exists_in_the_template() -> None:
    makefile = template_makefile()
    problems = []
    for command in make_commands(docs_text()):
        for target in command.targets:
            if target in PENDING_TARGETS:
                continue
            if target not in makefile.targets:
                problems.append(f"`{command.text}`: no target {target}")
                continue
            for name in command.variables:
                pending = (target, name) in PENDING_VARIABLES
                if name not in makefile.variables(target) and not pending:
                    problems.append(f"`{command.text}`: {target} ignores {name}")
    assert not problems, "\n".join(problems)


def test_every_project_path_module_and_setting_exists_in_the_template() -> None:
    paths = template_paths(TEMPLATE)
    assert sorted(documented_paths() - paths - PENDING_PATHS) == []
    modules = {
        module
        for module in python_modules(docs_text())
        if not any(f"{module.replace('.', '/')}{end}" in paths for end in (".py", "/__main__.py"))
    }
    assert sorted(modules - PENDING_MODULES) == []
    assert sorted(documented_settings() - sample_settings() - PENDING_SETTINGS) == []


def test_every_setting_is_documented() -> None:
    assert sorted(sample_settings() - documented_settings()) == []


def test_pending_items_are_documented_and_still_missing() -> None:
    """Once a feature lands, its entries leave the PENDING lists (and the docs are checked)."""
    documented_targets = {t for command in make_commands(docs_text()) for t in command.targets}
    assert sorted(PENDING_TARGETS - documented_targets) == []
    assert sorted(PENDING_PATHS - documented_paths()) == []
    assert sorted(PENDING_MODULES - python_modules(docs_text())) == []
    assert sorted(PENDING_SETTINGS - documented_settings()) == []
    makefile = template_makefile()
    paths = template_paths(TEMPLATE)
    assert sorted(PENDING_TARGETS & makefile.targets) == []
    assert sorted(v for v in PENDING_VARIABLES if v[1] in makefile.variables(v[0])) == []
    assert sorted(PENDING_PATHS & paths) == []
    landed = [m for m in PENDING_MODULES if f"{m.replace('.', '/')}/__main__.py" in paths]
    landed += [m for m in PENDING_MODULES if f"{m.replace('.', '/')}.py" in paths]
    assert landed == []
    assert sorted(PENDING_SETTINGS & sample_settings()) == []
