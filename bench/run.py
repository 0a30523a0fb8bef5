"""Benchmarks of the rendered default service against a bare FastAPI app, in one run.

Renders the default service into build/bench, times its test suite (SQLite and PostgreSQL) and
`copier copy` to green tests, then serves, each with one uvicorn worker on one temporary
PostgreSQL database:

- the service as shipped (`ENVIRONMENT=production`: JSON logs at INFO, the access log on);
- the same with the caller cache off (`AUTH_CACHE_SECONDS=0`): every request asks the database;
- the same with quiet logging (`LOG_LEVEL=WARNING`, `ACCESS_LOG=false`);
- bench/bare_app.py, a bare FastAPI app, as the baseline.

Every server runs the api image's command, with the image's ENV, from the image's files and
environment as tests/dockerfile.py rebuilds them without a Docker engine (the Dockerfile's
`uv sync`, bytecode compiled, no development tools): the memory and start-up measured are those
of what ships. Each writes its output into a pipe that the bench copies to build/bench/, as a
container runtime collects a service's output. wrk loads each endpoint in interleaved rounds (so
a slow moment of the machine affects them alike); the medians are reported as ratios to the bare
app, with their p99 latency, the cost of the shipped logging, the resident memory of the shipped
service after the load, and its cold start (launch to the first 200 of /api/v1/health/live).
Results go to bench/results/ as JSON, and the documentation's benchmark page shows the newest.

`--compare use_logfire=true` also renders the service with those answers, serves it next to the
shipped one and reports its endpoints as ratios to it (results/compare-<answers>-<stamp>.json).

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
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.dockerfile import ImageEmulator, image_command
from tests.helpers import TEMPLATE_ROOT, answer, project_env, render, run
from tests.service import free_port, temporary_database

BENCH_DIR = TEMPLATE_ROOT / "build" / "bench"
RESULTS_DIR = TEMPLATE_ROOT / "bench" / "results"
# The default service: every question at its default (`--compare` overrides some).
DEFAULT_ANSWERS: dict[str, object] = {}
# Production refuses to start without Clerk's settings when Clerk is on. These name no real
# instance: the benchmark authenticates with API keys, so no signing key is ever fetched.
CLERK_SETTINGS = {
    "CLERK_ISSUER": "https://bench.clerk.accounts.dev",
    "CLERK_AUTHORIZED_PARTIES": "https://app.example.com",
    "CLERK_WEBHOOK_SECRET": "whsec_"
    + base64.b64encode(b"benchmark-webhook-key-32-bytes!!").decode(),
}
HEALTH_PROBE = "/api/v1/health/live"
SECRET_KEY = "benchmark-secret-key-7Kq2xW9mR4tZ-vB8nL3cH6"  # noqa: S105 (a throwaway database)
PAGE_SIZE = 20
SERVICE_APP = "app.api.main:app"

# What each endpoint should reach, as a ratio to the bare app; and the other limits.
TARGETS = {"health_live": 0.85, "me_cached": 0.3, "me_uncached": 0.12, "users_page": 0.07}
LIMITS = {
    "cached_p99_over_health_p99": 3.0,
    "logging_cost": 0.05,
    "cold_start_seconds": 2.0,
    "rss_mb_after_load": 100.0,
    "suite_sqlite_seconds": 8.0,
    "suite_postgresql_seconds": 10.0,
    "copy_to_green_seconds": 20.0,
}
LABELS = {
    "bare": "bare FastAPI `GET /hello`",
    "health_live": "`GET /api/v1/health/live`",
    "me_cached": "`GET /api/v1/me`, API key, caller cached",
    "me_uncached": "`GET /api/v1/me`, API key, `AUTH_CACHE_SECONDS=0`",
    "users_page": f"`GET /api/v1/users?size={PAGE_SIZE}` (a page and its total)",
    "me_cached_quiet": "`GET /api/v1/me`, cached, quiet logging",
}

# Run in the project with DATABASE_URL: add users until there are `argv[1]`.
ADD_USERS = """
import asyncio, sys
import sqlalchemy as sa
from app.infrastructure.config import get_settings
from app.infrastructure.database import create_engine
from app.models import User

async def main(wanted):
    engine = create_engine(get_settings().database_url)
    async with engine.begin() as connection:
        have = (await connection.execute(sa.select(sa.func.count()).select_from(User))).scalar()
        rows = [{"email": f"user{n}@example.com", "role": "standard"} for n in range(wanted - have)]
        if rows:
            await connection.execute(sa.insert(User), rows)
    await engine.dispose()

asyncio.run(main(int(sys.argv[1])))
"""


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


def make(project: Path, env: dict[str, str], *args: str) -> str:
    """`make ARGS` in the project; a failure ends the program with the command's output."""
    try:
        return run(["make", *args], project, env).stdout
    except AssertionError as error:
        sys.exit(f"bench: {error}")


def answered(url: str, timeout: float = 2) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


@dataclass(frozen=True)
class Image:
    """The api image of a project, rebuilt: its WORKDIR, the values its ENV sets, its command."""

    root: Path
    env: dict[str, str]
    command: list[str]

    @classmethod
    def build(cls, project: Path, env: dict[str, str]) -> Image:
        images = ImageEmulator(project, BENCH_DIR / f"images-{project.name}", env)
        root, venv = images.build("api")
        image_env = images.environment("api", venv, env.get("PATH", ""))
        return cls(root, image_env, image_command(images.stages, "api"))

    def serving(self, port: int, app: str = SERVICE_APP, extra: Sequence[str] = ()) -> list[str]:
        """The image's command on 127.0.0.1:`port`, serving `app`."""
        command = list(self.command)
        command[command.index("--host") + 1] = "127.0.0.1"
        command[command.index("--port") + 1] = str(port)
        command[command.index(SERVICE_APP)] = app
        return [*command, *extra]


@dataclass
class Server:
    """One uvicorn worker of a project's api image, serving `app` on a free port."""

    name: str
    image: Image
    env: dict[str, str]
    app: str = SERVICE_APP
    extra: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    _pump: threading.Thread | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, probe: str) -> float:
        """Launch it and wait for `probe` to answer 200; the seconds that took.

        Its output goes into a pipe that a thread of this process copies to a log file, as a
        container runtime takes a service's output: writing to a file itself would put the
        disk's work on the server's core.
        """
        log_path = BENCH_DIR / f"server-{self.name}-{self.port}.log"
        started = time.perf_counter()
        self.process = subprocess.Popen(
            self.image.serving(self.port, self.app, self.extra),
            cwd=self.image.root,
            env={**self.env, **self.image.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._pump = threading.Thread(target=copy_output, args=(self.process, log_path))
        self._pump.start()
        while not answered(self.base + probe, timeout=1):
            if self.process.poll() is not None or time.perf_counter() - started > 60:
                self.stop()
                sys.exit(f"bench: {self.name} did not start; see {log_path}")
            time.sleep(0.01)
        return time.perf_counter() - started

    def rss_mb(self) -> float:
        if self.process is None:
            return float("nan")
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        return round(int(found.group(1)) / 1024, 1) if found else float("nan")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        if self._pump is not None:
            self._pump.join(timeout=30)


def copy_output(process: subprocess.Popen[bytes], path: Path) -> None:
    """Copy a server's output to `path` until it closes."""
    if process.stdout is None:
        return
    with path.open("wb") as log_file:
        while chunk := os.read(process.stdout.fileno(), 65536):
            log_file.write(chunk)


@contextlib.contextmanager
def serving(servers: list[Server], probes: dict[str, str]) -> Iterator[list[Server]]:
    try:
        for server in servers:
            server.start(probes.get(server.name, HEALTH_PROBE))
        yield servers
    finally:
        for server in servers:
            server.stop()


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


def arguments() -> argparse.Namespace:
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
    return parser.parse_args()


def render_and_time(no_suite: bool) -> tuple[Path, dict[str, str], dict[str, Any]]:
    """The default service, installed; its suite timings and copy-to-green time."""
    log("timing copier copy -> green tests (warm uv cache)")
    started = time.perf_counter()
    project = render(BENCH_DIR / "service", DEFAULT_ANSWERS)
    env = project_env(answer(project, "python_version"))
    env.pop("TEST_DATABASE_URL", None)
    make(project, env, "install")
    timings: dict[str, Any] = {"suite": {}, "copy_to_green_seconds": None}
    if not no_suite:
        # The first run also writes the bytecode of everything it imports: it counts in the
        # copy-to-green time, and the suite's rows are those of every later run.
        timings["suite"]["sqlite_first_run"] = suite_timing(project, env)
        timings["copy_to_green_seconds"] = round(time.perf_counter() - started, 2)
        log("timing the suite again on SQLite, then on PostgreSQL")
        timings["suite"]["sqlite"] = suite_timing(project, env)
        with_postgres = {**env, "TEST_DATABASE_URL": server_url()}
        timings["suite"]["postgresql"] = suite_timing(project, with_postgres)
    return project, env, timings


def seed(project: Path, env: dict[str, str]) -> str:
    """Migrate the database, create an admin (whose API key is returned) and enough users to
    fill a page."""
    make(project, env, "migrate")
    admin = make(project, env, "create-user", "EMAIL=bench@example.com", "ROLE=admin")
    run(["uv", "run", "python", "-c", ADD_USERS, str(PAGE_SIZE + 10)], project, env)
    return json.loads(admin.splitlines()[-1])["api_key"]


def cold_start(image: Image, env: dict[str, str], app: str, extra: list[str]) -> float:
    """Median of three launches to the first 200 of the probe."""
    probe = HEALTH_PROBE if app == SERVICE_APP else "/hello"
    times = []
    for _ in range(3):
        server = Server("cold", image, env, app=app, extra=extra)
        try:
            times.append(server.start(probe))
        finally:
            server.stop()
    return round(statistics.median(times), 2)


def load(
    binary: str,
    targets: dict[str, tuple[str, dict[str, str]]],
    args: argparse.Namespace,
) -> dict[str, list[dict[str, float]]]:
    for url, headers in targets.values():
        wrk(binary, url, 2, args.connections, headers)  # warm-up
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    for round_number in range(1, args.rounds + 1):
        for name, (url, headers) in targets.items():
            result = wrk(binary, url, args.seconds, args.connections, headers)
            runs[name].append(result)
            log(
                f"round {round_number} {name}: {result['rps']:.0f} req/s, p99 {result['p99_ms']} ms"
            )
    return runs


def medians(runs: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    return {
        name: {
            "rps": round(statistics.median(run["rps"] for run in results), 1),
            "p99_ms": round(statistics.median(run["p99_ms"] for run in results), 2),
        }
        for name, results in runs.items()
    }


def production_env(env: dict[str, str], database_url: str) -> dict[str, str]:
    """The settings of the service as shipped: production, on the bench's database."""
    return {
        **env,
        "ENVIRONMENT": "production",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": database_url,
        **CLERK_SETTINGS,
    }


def measure_service(
    project: Path, env: dict[str, str], args: argparse.Namespace, binary: str
) -> dict[str, Any]:
    log("rebuilding the api image's files and environment")
    image = Image.build(project, env)
    with temporary_database(server_url(), "bench") as database_url:
        shipped = production_env(env, database_url)
        key = seed(project, shipped)
        servers = [
            Server("shipped", image, shipped),
            Server("uncached", image, {**shipped, "AUTH_CACHE_SECONDS": "0"}),
            Server("quiet", image, {**shipped, "LOG_LEVEL": "WARNING", "ACCESS_LOG": "false"}),
            Server("bare", image, shipped, app="bare_app:app", extra=bare_app_dir()),
        ]
        by_name = {server.name: server for server in servers}
        with serving(servers, {"bare": "/hello"}):
            auth = {"X-API-Key": key}
            targets = {
                "bare": (by_name["bare"].base + "/hello", {}),
                "health_live": (by_name["shipped"].base + HEALTH_PROBE, {}),
                # The logging cost compares these two within each round: one after the other.
                "me_cached": (by_name["shipped"].base + "/api/v1/me", auth),
                "me_cached_quiet": (by_name["quiet"].base + "/api/v1/me", auth),
                "me_uncached": (by_name["uncached"].base + "/api/v1/me", auth),
                "users_page": (by_name["shipped"].base + f"/api/v1/users?size={PAGE_SIZE}", auth),
            }
            runs = load(binary, targets, args)
            rss = by_name["shipped"].rss_mb()
        log("timing cold starts")
        starts = {
            "service": cold_start(image, shipped, SERVICE_APP, []),
            "bare": cold_start(image, shipped, "bare_app:app", bare_app_dir()),
        }
    return {"runs": runs, "rss_mb_after_load": rss, "cold_start_seconds": starts}


def bare_app_dir() -> list[str]:
    return ["--app-dir", str(TEMPLATE_ROOT / "bench")]


def logging_cost(runs: dict[str, list[dict[str, float]]]) -> float:
    """The median over the rounds of what the shipped logging takes from a cached `/me`: each
    round loads the shipped and the quiet server one after the other, so a slow moment of the
    machine weighs on both sides of a round's ratio rather than on one server's median."""
    pairs = zip(runs["me_cached"], runs["me_cached_quiet"], strict=True)
    costs = [1 - shipped["rps"] / quiet["rps"] for shipped, quiet in pairs]
    return round(statistics.median(costs), 3)


def report(timings: dict[str, Any], measured: dict[str, Any], args: argparse.Namespace) -> None:
    endpoints = medians(measured["runs"])
    bare = endpoints["bare"]["rps"]
    ratios = {name: round(endpoints[name]["rps"] / bare, 3) for name in TARGETS}
    suite = timings["suite"]
    figures = {
        "cached_p99_over_health_p99": round(
            endpoints["me_cached"]["p99_ms"] / endpoints["health_live"]["p99_ms"], 2
        ),
        "logging_cost": logging_cost(measured["runs"]),
        "cold_start_seconds": measured["cold_start_seconds"]["service"],
        "rss_mb_after_load": measured["rss_mb_after_load"],
        "suite_sqlite_seconds": suite.get("sqlite", {}).get("pytest_seconds"),
        "suite_postgresql_seconds": suite.get("postgresql", {}).get("pytest_seconds"),
        "copy_to_green_seconds": timings["copy_to_green_seconds"],
    }
    results = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=TEMPLATE_ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip(),
        "machine": {"cpus": os.cpu_count(), "load_average_before": os.getloadavg()},
        "wrk": {
            "seconds": args.seconds,
            "connections": args.connections,
            "threads": 1,
            "rounds": args.rounds,
        },
        "endpoints": endpoints,
        "ratios_to_bare": ratios,
        "targets": TARGETS,
        "figures": figures,
        "limits": LIMITS,
        "cold_start_seconds": measured["cold_start_seconds"],
        "suite": suite,
        "runs": measured["runs"],
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    for path in (RESULTS_DIR / f"{stamp}.json", RESULTS_DIR / "latest.json"):
        path.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"written: {RESULTS_DIR / 'latest.json'}")


def print_table(results: dict[str, Any]) -> None:
    endpoints, ratios = results["endpoints"], results["ratios_to_bare"]
    print(f"\n{'endpoint':<58}{'req/s':>9}{'p99 ms':>9}{'ratio':>8}{'target':>9}")
    for name, label in LABELS.items():
        target = f">= {TARGETS[name]}" if name in TARGETS else ""
        ratio = f"{ratios[name]:.3f}" if name in ratios else ""
        row = endpoints[name]
        print(f"{label:<58}{row['rps']:>9.0f}{row['p99_ms']:>9.1f}{ratio:>8}{target:>9}")
    print()
    for name, value in results["figures"].items():
        print(f"{name:<58}{value!s:>9}  (limit {results['limits'][name]})")


def compare_variant(
    compare: dict[str, object], project: Path, env: dict[str, str], args: argparse.Namespace
) -> None:
    """Serve the variant next to the shipped service; its endpoints as ratios to it."""
    log(f"rendering the variant {compare}")
    variant = render(BENCH_DIR / "variant", {**DEFAULT_ANSWERS, **compare})
    make(variant, env, "install")
    binary = ensure_wrk()
    with temporary_database(server_url(), "bench") as database_url:
        shipped = production_env(env, database_url)
        key = seed(project, shipped)
        servers = [
            Server("default", Image.build(project, env), shipped),
            Server("variant", Image.build(variant, env), shipped),
        ]
        with serving(servers, {}):
            targets = {}
            for server in servers:
                prefix = "" if server.name == "default" else "variant_"
                targets[prefix + "health_live"] = (server.base + HEALTH_PROBE, {})
                targets[prefix + "me_api_key"] = (server.base + "/api/v1/me", {"X-API-Key": key})
            runs = load(binary, targets, args)
    median = {name: values["rps"] for name, values in medians(runs).items()}
    ratios = {
        name: round(median[f"variant_{name}"] / median[name], 3)
        for name in ("health_live", "me_api_key")
    }
    results = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "load_average_before": os.getloadavg()},
        "answers": compare,
        "requests_per_second_median": median,
        "runs": runs,
        "variant_to_default": ratios,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    label = "-".join(f"{name}={value}".lower() for name, value in compare.items())
    path = RESULTS_DIR / f"compare-{label}-{stamp}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(ratios, indent=2))
    print(f"written: {path}")


def main() -> None:
    args = arguments()
    binary = ensure_wrk()
    server_url()
    if BENCH_DIR.exists():
        shutil.rmtree(BENCH_DIR)
    BENCH_DIR.mkdir(parents=True)
    project, env, timings = render_and_time(args.no_suite or bool(args.compare))
    if args.compare:
        compare_variant(dict(args.compare), project, env, args)
        return
    report(timings, measure_service(project, env, args, binary), args)


if __name__ == "__main__":
    main()
