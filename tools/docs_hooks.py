"""MkDocs hooks: the parts of the site that are generated, so they cannot drift.

- questions.md: the summary table and each question's facts (type, default, choices, what is
  refused) come from copier.yml. The build fails when an asked question has no ``### `name` ``
  section, or a section names no question.
- benchmarks.md: the result tables come from bench/results/latest.json (written by
  `nox -s bench`); the build fails when the file is missing or incomplete.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from mkdocs.exceptions import PluginError

QUESTIONS_MARKER = "<!-- generated: questions table -->"
BENCH_MARKER = "<!-- generated: benchmark results -->"
LOGFIRE_MARKER = "<!-- generated: logfire comparison -->"
LOGFIRE_RESULTS = "compare-use_logfire=true-*.json"
SECTION = re.compile(r"^### `([a-z_]+)`\s*$", re.MULTILINE)
JINJA_BRACES = re.compile(r"\{\{|\}\}")
JINJA_TAG = re.compile(r"\{%.*?%\}")
JINJA_EXPRESSION = re.compile(r"\{\{.*?\}\}")
# The part of a validator message that quotes the rejected answer: ", got "x"" or "(got 3)".
QUOTED_ANSWER = re.compile(r"\s*(?:,\s*got\b.*?(?=\.?$)|\(got\b[^)]*\))")


def load_questions(copier_yml: Path) -> dict[str, dict[str, Any]]:
    """The questions copier asks, in copier.yml order (settings and hidden values left out)."""
    data = yaml.safe_load(copier_yml.read_text())
    return {
        name: spec
        for name, spec in data.items()
        if not name.startswith("_") and spec.get("when", True) is not False
    }


def _code(value: object) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    fence = "``" if "`" in text else "`"
    return f"{fence}{text}{fence}"


def _cell(text: str) -> str:
    """Text that stays in one table cell."""
    return " ".join(text.replace("|", "\\|").split())


def describe_default(spec: dict[str, Any]) -> str:
    default = spec.get("default")
    if default is None:
        return "none"
    if isinstance(default, str) and "{{" in default:
        return f"computed: {_code(default)}"
    return _code(default)


def refusal(spec: dict[str, Any]) -> str:
    """The rule a validator enforces, as its message without the quoted answer."""
    validator = spec.get("validator")
    if not validator:
        return ""
    message = JINJA_TAG.sub("", validator).strip()
    message = QUOTED_ANSWER.sub("", message)
    message = JINJA_EXPRESSION.sub("…", message).strip()
    return message if message.endswith(".") else message + "."


def questions_table(questions: dict[str, dict[str, Any]]) -> str:
    rows = [
        "| question | type | default | what it changes |",
        "|---|---|---|---|",
    ]
    for name, spec in questions.items():
        kind = "choice" if spec.get("choices") else spec.get("type", "str")
        rows.append(
            f"| [`{name}`](#{name}) | {kind} | {describe_default(spec)} | "
            f"{_cell(spec.get('help', ''))} |"
        )
    return "\n".join(rows)


def question_facts(spec: dict[str, Any]) -> str:
    kind = spec.get("type", "str")
    facts = [f"**Type** `{kind}`", f"**default** {describe_default(spec)}"]
    if choices := spec.get("choices"):
        facts.append("**choices** " + ", ".join(_code(choice) for choice in choices))
    if isinstance(when := spec.get("when"), str):
        facts.append("**asked when** " + _code(JINJA_BRACES.sub("", when).strip()))
    lines = [" · ".join(facts), ""]
    lines += [f"> {line.strip()}" for line in spec.get("help", "").strip().splitlines()]
    if rule := refusal(spec):
        lines += [">", f"> Refused with {_code(rule)}"]
    return "\n".join(lines)


def render_questions_page(markdown: str, questions: dict[str, dict[str, Any]]) -> str:
    if QUESTIONS_MARKER not in markdown:
        raise PluginError(f"questions.md: the marker {QUESTIONS_MARKER} is missing")
    sections = SECTION.findall(markdown)
    missing = [name for name in questions if name not in sections]
    unknown = [name for name in sections if name not in questions]
    duplicated = sorted({name for name in sections if sections.count(name) > 1})
    problems = []
    if missing:
        problems.append(f"no section for the question(s) {', '.join(missing)}")
    if unknown:
        problems.append(f"sections for no question: {', '.join(unknown)}")
    if duplicated:
        problems.append(f"duplicated sections: {', '.join(duplicated)}")
    if problems:
        raise PluginError("questions.md is out of step with copier.yml: " + "; ".join(problems))

    def with_facts(match: re.Match[str]) -> str:
        return f"{match.group(0)}\n{question_facts(questions[match.group(1)])}\n"

    markdown = markdown.replace(QUESTIONS_MARKER, questions_table(questions))
    return SECTION.sub(with_facts, markdown)


def _number(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


ENDPOINT_ROWS = (
    ("health_live", "`GET /api/v1/health/live`"),
    ("me_cached", "`GET /api/v1/me`, API key, caller cached"),
    ("me_uncached", "`GET /api/v1/me`, API key, `AUTH_CACHE_SECONDS=0`"),
    ("users_page", "`GET /api/v1/users?size=20`, a page and its total"),
    ("me_cached_quiet", "`GET /api/v1/me`, cached, quiet logging"),
)
FIGURE_ROWS = (
    ("cached_p99_over_health_p99", "p99 of cached `/me` over p99 of `/health/live`", "≤", ""),
    ("logging_cost", "throughput the shipped logging costs on `/me`", "≤", ""),
    ("cold_start_seconds", "cold start: launch to the first 200 of `/health/live`", "≤", " s"),
    ("rss_mb_after_load", "resident memory after the load", "≤", " MB"),
    ("suite_sqlite_seconds", "rendered test suite on SQLite, pytest time", "≤", " s"),
    ("suite_postgresql_seconds", "rendered test suite on PostgreSQL, pytest time", "≤", " s"),
    ("copy_to_green_seconds", "`copier copy` to green tests, warm uv cache", "≤", " s"),
)


def _met(passed: bool) -> str:
    return "yes" if passed else "**no**"


def benchmark_tables(results: dict[str, Any]) -> str:
    try:
        endpoints = results["endpoints"]
        ratios = results["ratios_to_bare"]
        targets = results["targets"]
        figures = results["figures"]
        limits = results["limits"]
        suites = results["suite"]
        wrk = results["wrk"]
        bare = endpoints["bare"]
        lines = [
            "| endpoint | requests/s (median) | p99 (ms) | ratio to bare FastAPI | target | met |",
            "|---|---:|---:|---:|---:|:-:|",
            f"| bare FastAPI `GET /hello` | {_number(bare['rps'])} | "
            f"{bare['p99_ms']:.1f} | 1.000 | | |",
        ]
        for key, label in ENDPOINT_ROWS:
            row = endpoints[key]
            ratio = row["rps"] / bare["rps"]
            target, met = "", ""
            if key in targets:
                ratio = ratios[key]
                target, met = f"≥ {targets[key]}", _met(ratio >= targets[key])
            lines.append(
                f"| {label} | {_number(row['rps'])} | {row['p99_ms']:.1f} | {ratio:.3f} | "
                f"{target} | {met} |"
            )
        lines += ["", "| figure | measured | limit | met |", "|---|---:|---:|:-:|"]
        for key, label, sign, unit in FIGURE_ROWS:
            value, limit = figures[key], limits[key]
            shown = f"{value:.1%}" if key == "logging_cost" else f"{value:g}{unit}"
            bound = f"{limit:.0%}" if key == "logging_cost" else f"{limit:g}{unit}"
            lines.append(f"| {label} | {shown} | {sign} {bound} | {_met(value <= limit)} |")
        lines += [
            "",
            "| rendered test suite | tests | pytest time (s) | per test (ms) | wall time (s) |",
            "|---|---:|---:|---:|---:|",
        ]
        for key, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
            suite = suites[key]
            lines.append(
                f"| {label} | {suite['tests']} | {suite['pytest_seconds']:.2f} | "
                f"{suite['ms_per_test']:.1f} | {suite['wall_seconds']:.2f} |"
            )
        load = ", ".join(f"{value:.2f}" for value in results["machine"]["load_average_before"])
        lines += [
            "",
            f"Measured {results['date']} at template commit `{results['commit']}`, on "
            f"{results['machine']['cpus']} CPUs (load average before the run: {load}); wrk "
            f"with {wrk['threads']} thread, {wrk['connections']} connections, "
            f"{wrk['seconds']} s per run, {wrk['rounds']} interleaved rounds per endpoint; "
            "medians of the rounds.",
        ]
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as error:
        raise PluginError(f"bench/results/latest.json is incomplete: {error!r}") from error
    return "\n".join(lines)


def comparison_table(results: dict[str, Any]) -> str:
    try:
        rps = results["requests_per_second_median"]
        ratios = results["variant_to_default"]
        lines = [
            "| endpoint | without Logfire (req/s) | Logfire, no token (req/s) | ratio |",
            "|---|---:|---:|---:|",
        ]
        for key, label in (
            ("health_live", "`GET /api/v1/health/live`"),
            ("me_api_key", "`GET /api/v1/me` with an API key"),
        ):
            lines.append(
                f"| {label} | {_number(rps[key])} | {_number(rps['variant_' + key])} | "
                f"{ratios[key]:.3f} |"
            )
        lines += [
            "",
            f"Measured {results['date']} at template commit `{results['commit']}`, both services "
            "served side by side and loaded in the same interleaved rounds.",
        ]
    except (KeyError, TypeError, ValueError) as error:
        raise PluginError(f"the Logfire comparison results are incomplete: {error!r}") from error
    return "\n".join(lines)


def render_benchmarks_page(markdown: str, results_file: Path) -> str:
    if BENCH_MARKER not in markdown:
        raise PluginError(f"benchmarks.md: the marker {BENCH_MARKER} is missing")
    if not results_file.is_file():
        raise PluginError(f"{results_file} is missing: run `nox -s bench` to measure")
    markdown = markdown.replace(
        BENCH_MARKER, benchmark_tables(json.loads(results_file.read_text()))
    )
    if LOGFIRE_MARKER in markdown:
        found = sorted(results_file.parent.glob(LOGFIRE_RESULTS))
        if not found:
            raise PluginError(
                f"no {LOGFIRE_RESULTS} next to {results_file.name}: run "
                "`nox -s bench -- --compare use_logfire=true`"
            )
        table = comparison_table(json.loads(found[-1].read_text()))
        markdown = markdown.replace(LOGFIRE_MARKER, table)
    return markdown


def on_page_markdown(markdown: str, page: Any, config: Any, **_: Any) -> str:
    root = Path(config.config_file_path).resolve().parent
    source = page.file.src_uri
    if source == "questions.md":
        return render_questions_page(markdown, load_questions(root / "copier.yml"))
    if source == "benchmarks.md":
        return render_benchmarks_page(markdown, root / "bench" / "results" / "latest.json")
    return markdown
