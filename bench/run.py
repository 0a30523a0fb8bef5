"""Benchmarks of the rendered default service against a bare FastAPI app, in one run.

Renders the default service into build/bench, serves it with one uvicorn worker on a temporary
PostgreSQL database, serves bench/bare_app.py the same way, and loads both with wrk at a fixed
concurrency and duration. It reports requests per second of `GET /api/v1/me` (with an API key)
and `GET /api/v1/health/live` as ratios to the bare app, the rendered test suite's wall time per
test on SQLite and PostgreSQL, and the time from `copier copy` to green tests with a warm uv
cache. Results go to bench/results/ as JSON.

`--compare use_logfire=true` also renders the service with those answers, serves it next to the
first on the same database, and reports each endpoint of it as a ratio to the default service,
measured in the same interleaved rounds (results/compare-<answers>-<timestamp>.json).

Run through `nox -s bench` with BENCH_DATABASE_URL or TEST_DATABASE_URL naming a PostgreSQL
server (the role needs CREATEDB).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.helpers import TEMPLATE_ROOT, answer, project_env, render, run
from tests.service import free_port, temporary_database

BENCH_DIR = TEMPLATE_ROOT / "build" / "bench"
RESULTS_DIR = TEMPLATE_ROOT / "bench" / "results"
# The default service: every question at its default (`--compare` overrides some).
DEFAULT_ANSWERS: dict[str, object] = {}
# Production refuses to start without Clerk's settings when Clerk is on. These name no real
# instance: the benchmark authenticates with an API key, so no signing key is ever fetched.
CLERK_SETTINGS = {
    "CLERK_ISSUER": "https://bench.clerk.accounts.dev",
    "CLERK_AUTHORIZED_PARTIES": "https://app.example.com",
    "CLERK_WEBHOOK_SECRET": "whsec_"
    + base64.b64encode(b"benchmark-webhook-key-32-bytes!!").decode(),
}
HEALTH_PROBE = "/api/v1/health/live"
SECRET_KEY = "benchmark-secret-key-0123456789-abcdefghijkl"  # noqa: S105 (a throwaway database)


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


def ensure_wrk() -> str:
    if found := shutil.which("wrk"):
        return found
    if os.geteuid() != 0:
        sys.exit("bench: wrk is not installed; install it (Debian: sudo apt-get install wrk)")
    log("installing wrk from Debian's packages")
    subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk") or sys.exit("bench: wrk did not install")


def server_url() -> str:
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if not url:
        sys.exit("bench: set BENCH_DATABASE_URL (or TEST_DATABASE_URL) to a PostgreSQL server URL")
    return url


@contextlib.contextmanager
def serve(
    command: list[str], cwd: Path, env: dict[str, str], port: int, probe: str
) -> Iterator[None]:
    log_file = (BENCH_DIR / f"server-{port}.log").open("w")
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://127.0.0.1:{port}{probe}", timeout=2),
            ):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"bench: the server did not start; see {log_file.name}")
            time.sleep(0.2)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log_file.close()


def wrk(
    binary: str, url: str, seconds: int, connections: int, headers: dict[str, str]
) -> dict[str, float]:
    args = [binary, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    output = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        sys.exit(f"bench: {url} answered {errors.group(1)} non-2xx responses:\n{output}")
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", output)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    return {"rps": rps, "p50_ms": to_ms(p50), "p99_ms": to_ms(p99)}


def to_ms(match: re.Match[str] | None) -> float:
    if match is None:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def make(project: Path, env: dict[str, str], *args: str) -> str:
    """`make ARGS` in the project; a failure ends the program with the command's output."""
    try:
        return run(["make", *args], project, env).stdout
    except AssertionError as error:
        sys.exit(f"bench: {error}")


def suite_timing(project: Path, env: dict[str, str]) -> dict[str, float]:
    started = time.perf_counter()
    output = make(project, env, "test")
    wall = time.perf_counter() - started
    passed = int(re.search(r"(\d+) passed", output).group(1))
    pytest_seconds = float(re.search(r"passed[^\n]* in ([\d.]+)s", output).group(1))
    return {
        "tests": passed,
        "wall_seconds": round(wall, 2),
        "pytest_seconds": pytest_seconds,
        "ms_per_test": round(1000 * pytest_seconds / passed, 2),
    }


def parse_answer(text: str) -> tuple[str, object]:
    name, separator, value = text.partition("=")
    if not separator or not name:
        raise argparse.ArgumentTypeError(f"expected QUESTION=VALUE, got {text!r}")
    lowered = value.lower()
    return name, True if lowered == "true" else False if lowered == "false" else value


def report_comparison(
    compare: dict[str, object],
    median: dict[str, float],
    runs: dict[str, list[dict[str, float]]],
    commit: str,
) -> None:
    """The variant's endpoints as ratios to the default service's, from the same rounds."""
    ratios = {
        name: round(median[f"variant_{name}"] / median[name], 3)
        for name in ("health_live", "me_api_key")
    }
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "machine": {"cpus": os.cpu_count(), "load_average_before": os.getloadavg()},
        "answers": compare,
        "requests_per_second_median": {name: round(value, 1) for name, value in median.items()},
        "runs": runs,
        "variant_to_default": ratios,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    label = "-".join(f"{name}={value}".lower() for name, value in compare.items())
    path = RESULTS_DIR / f"compare-{label}-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(f"{'endpoint':<24}{'default req/s':>16}{'variant req/s':>16}{'ratio':>8}")
    for name, label_text in (
        ("health_live", "GET /api/v1/health/live"),
        ("me_api_key", "GET /api/v1/me (key)"),
    ):
        print(
            f"{label_text:<24}{median[name]:>16.0f}{median[f'variant_{name}']:>16.0f}"
            f"{ratios[name]:>8.3f}"
        )
    print(f"written: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per endpoint")
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="QUESTION=VALUE",
        type=parse_answer,
        help="also serve the service rendered with these answers and compare it",
    )
    parser.add_argument(
        "--no-suite", action="store_true", help="skip timing the rendered test suite"
    )
    args = parser.parse_args()
    compare = dict(args.compare)

    wrk_binary = ensure_wrk()
    database_server = server_url()
    if BENCH_DIR.exists():
        shutil.rmtree(BENCH_DIR)
    BENCH_DIR.mkdir(parents=True)

    log("timing copier copy -> green tests (warm uv cache)")
    started = time.perf_counter()
    project = render(BENCH_DIR / "service", DEFAULT_ANSWERS)
    env = project_env(answer(project, "python_version"))
    env.pop("TEST_DATABASE_URL", None)
    make(project, env, "install")
    suites: dict[str, dict[str, float]] = {}
    copy_to_green = None
    if not args.no_suite:
        suites["sqlite"] = suite_timing(project, env)
        copy_to_green = round(time.perf_counter() - started, 2)
        log("timing the suite on PostgreSQL")
        suites["postgresql"] = suite_timing(project, {**env, "TEST_DATABASE_URL": database_server})
    variant = None
    if compare:
        log(f"rendering the variant {compare}")
        variant = render(BENCH_DIR / "variant", {**DEFAULT_ANSWERS, **compare})
        make(variant, env, "install")

    with temporary_database(database_server, "bench") as database_url:
        service_env = {
            **env,
            "ENVIRONMENT": "production",
            "SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": database_url,
            **CLERK_SETTINGS,
        }
        make(project, service_env, "migrate")
        user = json.loads(
            make(
                project, service_env, "create-user", "EMAIL=bench@example.com", "ROLE=admin"
            ).splitlines()[-1]
        )
        app_port, bare_port, variant_port = free_port(), free_port(), free_port()
        uvicorn = ["uv", "run", "uvicorn", "--workers", "1", "--host", "127.0.0.1"]
        app_command = [*uvicorn, "--port", str(app_port), "app.api.main:app"]
        variant_command = [*uvicorn, "--port", str(variant_port), "app.api.main:app"]
        bare_command = [
            *uvicorn,
            "--port",
            str(bare_port),
            "--no-access-log",
            "--app-dir",
            str(TEMPLATE_ROOT / "bench"),
            "bare_app:app",
        ]
        targets = {
            "bare": (f"http://127.0.0.1:{bare_port}/hello", {}),
            "health_live": (f"http://127.0.0.1:{app_port}/api/v1/health/live", {}),
            "me_api_key": (
                f"http://127.0.0.1:{app_port}/api/v1/me",
                {"X-API-Key": user["api_key"]},
            ),
        }
        if variant is not None:
            targets["variant_health_live"] = (
                f"http://127.0.0.1:{variant_port}/api/v1/health/live",
                {},
            )
            targets["variant_me_api_key"] = (
                f"http://127.0.0.1:{variant_port}/api/v1/me",
                {"X-API-Key": user["api_key"]},
            )
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
        with contextlib.ExitStack() as servers:
            servers.enter_context(
                serve(app_command, project, service_env, app_port, "/api/v1/health/live")
            )
            servers.enter_context(serve(bare_command, project, service_env, bare_port, "/hello"))
            if variant is not None:
                servers.enter_context(
                    serve(variant_command, variant, service_env, variant_port, HEALTH_PROBE)
                )
            for url, headers in targets.values():
                wrk(wrk_binary, url, 2, args.connections, headers)  # warm-up
            for round_number in range(1, args.rounds + 1):
                for name, (url, headers) in targets.items():
                    result = wrk(wrk_binary, url, args.seconds, args.connections, headers)
                    runs[name].append(result)
                    log(f"round {round_number} {name}: {result['rps']:.0f} req/s")

    median = {
        name: statistics.median(run["rps"] for run in results) for name, results in runs.items()
    }
    ratios = {
        "me_api_key": round(median["me_api_key"] / median["bare"], 3),
        "health_live": round(median["health_live"] / median["bare"], 3),
    }
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=TEMPLATE_ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if variant is not None:
        report_comparison(compare, median, runs, commit)
        return
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "machine": {"cpus": os.cpu_count(), "load_average_before": os.getloadavg()},
        "wrk": {
            "seconds": args.seconds,
            "connections": args.connections,
            "threads": 1,
            "rounds": args.rounds,
        },
        "requests_per_second_median": {name: round(value, 1) for name, value in median.items()},
        "runs": runs,
        "ratios_to_bare": ratios,
        "targets": {"me_api_key": 0.12, "health_live": 0.6},
        "suite": suites,
        "copy_to_green_seconds": copy_to_green,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    for path in (RESULTS_DIR / f"{stamp}.json", RESULTS_DIR / "latest.json"):
        path.write_text(json.dumps(report, indent=2) + "\n")

    print()
    print(f"{'endpoint':<24}{'req/s (median)':>16}{'ratio to bare':>16}{'target':>10}")
    print(f"{'bare FastAPI /hello':<24}{median['bare']:>16.0f}{1:>16.3f}{'':>10}")
    for name, label, target in (
        ("health_live", "GET /api/v1/health/live", ">= 0.6"),
        ("me_api_key", "GET /api/v1/me (key)", ">= 0.12"),
    ):
        print(f"{label:<24}{median[name]:>16.0f}{ratios[name]:>16.3f}{target:>10}")
    if suites:
        sqlite_suite, pg_suite = suites["sqlite"], suites["postgresql"]
        print(
            f"\nsuite: SQLite {sqlite_suite['tests']} tests in {sqlite_suite['pytest_seconds']} s "
            f"({sqlite_suite['ms_per_test']} ms/test); PostgreSQL {pg_suite['pytest_seconds']} s "
            f"({pg_suite['ms_per_test']} ms/test); copier copy to green: {copy_to_green} s"
        )
    print(f"written: {RESULTS_DIR / 'latest.json'}")


if __name__ == "__main__":
    main()
