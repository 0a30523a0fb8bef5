"""T0: the Kubernetes manifests of every variant compose with kustomize (kubectl's), match the
Kubernetes schemas offline (kubernetes-validate, strict), pass checkov's Kubernetes checks but
for the explained skips below, run the images' own commands (those of make targets) with the
probes on real health routes of the api's port, and map every setting to the ConfigMap or the
Secret's example."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
from pathlib import Path

import pytest
import yaml

from tests.dockerfile import dockerfile_stages, image_command
from tests.helpers import answer, make, run, tool
from tests.test_images import IMAGE_COMMANDS

KUBERNETES_VERSION = "1.37.0"
CHECKOV = "checkov==3.3.30"
KUBE = Path("deploy/kubernetes")
PRODUCTION = KUBE / "overlays/production"

# checkov's Kubernetes checks the manifests do not pass, each on purpose.
CHECKOV_SKIPS = {
    # Image should use digest: the overlay deploys release tags, one per version, as the
    # build-images workflow publishes them; kustomize's `images: digest:` pins one if wanted.
    "CKV_K8S_43",
    # Image Pull Policy should be Always: release tags are never moved, so IfNotPresent pulls
    # each once per node (and lets a cluster run images loaded into it, as the kind job does).
    "CKV_K8S_15",
    # Secrets as files over environment variables: the service reads its settings from the
    # environment only (pydantic-settings), the secret ones as the plain ones.
    "CKV_K8S_35",
}


def sample(project: Path) -> str:
    """The application's settings in the sample environment (not those of the compose stack)."""
    return (project / ".env.sample").read_text().split("# --- Docker Compose")[0]


def manifests(project: Path) -> list[str]:
    return sorted(str(path.relative_to(project)) for path in (project / KUBE).rglob("*.y*ml"))


def kustomize(project: Path, directory: Path) -> list[dict]:
    output = run([tool("kubectl"), "kustomize", str(directory)], project, os.environ).stdout
    return [document for document in yaml.safe_load_all(output) if document]


def rendered_objects(project: Path) -> dict[str, list[dict]]:
    """The objects of both production kustomizations: the migrations Job's, then the rest."""
    return {
        "migrations": kustomize(project, PRODUCTION / "migrations"),
        "production": kustomize(project, PRODUCTION),
    }


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {item["metadata"]["name"]: item for item in objects if item["kind"] == kind}


def pod_spec(item: dict) -> dict:
    return item["spec"]["template"]["spec"]


def test_the_manifests_of_each_variant(rendered: Path) -> None:
    expected = {
        "deploy/kubernetes/base/api.yaml",
        "deploy/kubernetes/base/kustomization.yaml",
        "deploy/kubernetes/base/settings.yaml",
        "deploy/kubernetes/base/migrations/job.yaml",
        "deploy/kubernetes/base/migrations/kustomization.yaml",
        "deploy/kubernetes/overlays/production/ingress.yaml",
        "deploy/kubernetes/overlays/production/kustomization.yaml",
        "deploy/kubernetes/overlays/production/migrations/kustomization.yaml",
        "deploy/kubernetes/overlays/production/release/kustomization.yaml",
    }
    if answer(rendered, "use_prefect"):
        expected.add("deploy/kubernetes/base/worker.yaml")
    assert set(manifests(rendered)) == expected
    assert (rendered / PRODUCTION / "secret.env.example").is_file()
    assert "deploy/kubernetes/**/secret.env" in (rendered / ".gitignore").read_text().splitlines()


def test_the_manifests_match_the_kubernetes_schemas(rendered: Path, tmp_path: Path) -> None:
    objects = rendered_objects(rendered)
    slug = answer(rendered, "project_slug")
    kinds = {name: sorted(item["kind"] for item in items) for name, items in objects.items()}
    expected = ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Ingress", "NetworkPolicy"]
    expected += ["PodDisruptionBudget", "Service"]
    if answer(rendered, "use_prefect"):
        expected += ["Deployment", "NetworkPolicy"]
    assert kinds == {"migrations": ["Job", "NetworkPolicy"], "production": sorted(expected)}
    for item in [*objects["migrations"], *objects["production"]]:
        assert item["metadata"]["namespace"] == slug
        assert item["metadata"]["labels"]["app.kubernetes.io/part-of"] == slug

    files = []
    for name, items in objects.items():
        files.append(tmp_path / f"{name}.yaml")
        files[-1].write_text(yaml.safe_dump_all(items))
    validate = [tool("kubernetes-validate"), "-k", KUBERNETES_VERSION, "--strict", "--no-warn"]
    output = run([*validate, *map(str, files)], tmp_path, os.environ).stdout
    passed = re.findall(r"passed for resource", output)
    assert len(passed) == sum(map(len, objects.values())), output


def checkov(manifests: dict[str, str], cache: Path) -> str:
    """checkov's JSON report on the manifests, run once per distinct set of manifests (variants
    that differ in what the manifests do not hold share one run)."""
    command = [tool("uv"), "tool", "run", "--from", CHECKOV, "checkov", "--directory", "."]
    command += ["--framework", "kubernetes", "--skip-download", "--output", "json"]
    command += ["--skip-check", ",".join(sorted(CHECKOV_SKIPS))]
    key = hashlib.sha256(json.dumps([command[1:], manifests], sort_keys=True).encode()).hexdigest()
    # No API key: checkov runs its bundled checks offline and sends nothing.
    env = {name: value for name, value in os.environ.items() if not name.startswith("BC_")}
    report = cache / f"{key}.json"
    if report.exists():
        return report.read_text()
    directory = cache / key
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in manifests.items():
        (directory / f"{name}.yaml").write_text(text)
    output = run(command, directory, env, timeout=600).stdout
    written = directory / "report.json"
    written.write_text(output)
    written.replace(report)  # whole, for another worker that reads it
    return output


def test_the_manifests_pass_checkov(
    rendered: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    texts = {name: yaml.safe_dump_all(items) for name, items in rendered_objects(rendered).items()}
    output = checkov(texts, tmp_path_factory.getbasetemp().parent / "checkov")
    report = json.loads(output)
    reports = report if isinstance(report, list) else [report]
    failed = [
        (check["check_id"], check["resource"])
        for part in reports
        for check in part["results"]["failed_checks"]
    ]
    assert not failed
    summary = reports[0]["summary"]
    assert summary["passed"] > 0
    assert summary["parsing_errors"] == 0
    # The skips above are not run at all; none is written into a manifest.
    assert summary["skipped"] == 0


def test_the_containers_run_the_images_commands(rendered: Path) -> None:
    stages = dockerfile_stages((rendered / "Dockerfile").read_text())
    objects = rendered_objects(rendered)
    slug = answer(rendered, "project_slug")
    workloads = {**by_kind(objects["production"], "Deployment")}
    workloads |= by_kind(objects["migrations"], "Job")
    targets = {"api", "migrations"} | ({"worker"} if answer(rendered, "use_prefect") else set())
    roles = {
        item["metadata"]["labels"]["app.kubernetes.io/component"] for item in workloads.values()
    }
    assert roles == targets
    release = {}
    for item in workloads.values():
        target = item["metadata"]["labels"]["app.kubernetes.io/component"]
        (container,) = pod_spec(item)["containers"]
        assert container["command"] == image_command(stages, target), target
        dry_run = make(rendered, "-n", *IMAGE_COMMANDS[target]).splitlines()
        assert dry_run == ["uv run " + shlex.join(container["command"])], target
        image, _, tag = container["image"].rpartition(":")
        # As the build-images workflow publishes them: ghcr.io/<owner>/<slug>-<target>.
        assert re.fullmatch(rf"ghcr\.io/[a-z0-9-]+/{slug}-{target}", image), image
        release[target] = tag
    # One release for every image; the migrations Job is named after it.
    assert len(set(release.values())) == 1
    (job,) = by_kind(objects["migrations"], "Job")
    assert job == f"{slug}-migrations-{release['migrations'].replace('.', '-')}"


def test_the_api_rolls_out_safely_on_its_health_routes(rendered: Path) -> None:
    production = rendered_objects(rendered)["production"]
    slug = answer(rendered, "project_slug")
    health = (rendered / "app/api/routes/health.py").read_text()
    main = (rendered / "app/api/main.py").read_text()
    assert 'API_PREFIX = "/api/v1"' in main
    assert 'APIRouter(prefix="/health"' in health
    routes = {"/api/v1/health" + path for path in re.findall(r'"(/\w+)"', health)}
    assert {"/api/v1/health/live", "/api/v1/health/ready"} <= routes
    port = int(re.search(r"^EXPOSE (\d+)$", (rendered / "Dockerfile").read_text(), re.M)[1])

    api = by_kind(production, "Deployment")[f"{slug}-api"]
    assert api["spec"]["replicas"] >= 2
    assert api["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    spec = pod_spec(api)
    (container,) = spec["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/v1/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/api/v1/health/live"
    assert container["startupProbe"]["httpGet"]["path"] in routes
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] == "http"
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
    # The grace period covers the preStop pause and the longest statement a request may wait on.
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    longest = re.search(r"^DATABASE_STATEMENT_TIMEOUT=(\d+)$", sample(rendered), re.MULTILINE)
    assert spec["terminationGracePeriodSeconds"] > pause + int(longest[1])
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert set(container["resources"]) == {"requests", "limits"}

    (service,) = by_kind(production, "Service").values()
    assert service["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http"}]
    (autoscaler,) = by_kind(production, "HorizontalPodAutoscaler").values()
    assert autoscaler["spec"]["minReplicas"] == api["spec"]["replicas"]
    (budget,) = by_kind(production, "PodDisruptionBudget").values()
    assert budget["spec"]["maxUnavailable"] == 1


def test_every_setting_is_in_the_config_map_or_the_secret_example(rendered: Path) -> None:
    settings = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", sample(rendered), re.MULTILINE))
    production = rendered_objects(rendered)["production"]
    (config_map,) = by_kind(production, "ConfigMap").values()
    plain = set(config_map["data"])
    example = (rendered / PRODUCTION / "secret.env.example").read_text()
    secret = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    assert not plain & secret
    assert plain | secret == settings
    assert {"DATABASE_URL", "SECRET_KEY"} <= secret
    assert config_map["data"]["ENVIRONMENT"] == "production"
    slug = answer(rendered, "project_slug")
    for item in by_kind(production, "Deployment").values():
        (container,) = pod_spec(item)["containers"]
        assert container["envFrom"] == [
            {"configMapRef": {"name": config_map["metadata"]["name"]}},
            {"secretRef": {"name": f"{slug}-settings-secret"}},
        ]
