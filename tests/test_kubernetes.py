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

import yaml

from tests.dockerfile import dockerfile_stages, image_command
from tests.helpers import answer, make, render, run, t0_variants, tool, variant_id
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


# A render of the Kubernetes manifests alone (copier's exclude patterns, as .gitignore's).
ONLY_KUBERNETES = ["*", "!deploy/", f"!{KUBE}/", f"!{KUBE}/**"]


def test_the_manifests_pass_checkov(tmp_path: Path) -> None:
    """checkov over the manifests of every T0 variant, in one run: its start takes nearly all
    of its time (8.1 s for one set of manifests, 8.3 s for six). Variants whose manifests are
    the same share one directory; a failure names the variants it concerns."""
    scanned = tmp_path / "scanned"
    variants: dict[str, list[str]] = {}  # directory -> the variants whose manifests it holds
    for answers in t0_variants():
        name = variant_id(answers)
        project = render(tmp_path / "renders" / name, answers, exclude=ONLY_KUBERNETES)
        objects = rendered_objects(project)
        texts = {part: yaml.safe_dump_all(items) for part, items in objects.items()}
        key = hashlib.sha256(json.dumps(texts, sort_keys=True).encode()).hexdigest()[:16]
        if key not in variants:
            (scanned / key).mkdir(parents=True)
            for part, text in texts.items():
                (scanned / key / f"{part}.yaml").write_text(text)
        variants.setdefault(key, []).append(name)

    command = [tool("uv"), "tool", "run", "--from", CHECKOV, "checkov", "--directory", "."]
    command += ["--framework", "kubernetes", "--skip-download", "--output", "json"]
    command += ["--skip-check", ",".join(sorted(CHECKOV_SKIPS))]
    # No API key: checkov runs its bundled checks offline and sends nothing.
    env = {name: value for name, value in os.environ.items() if not name.startswith("BC_")}
    report = json.loads(run(command, scanned, env, timeout=600).stdout)
    results = report["results"]

    def directory(check: dict) -> str:
        return Path(check["file_path"]).parts[1]  # "/<directory>/production.yaml"

    failed = [
        (variants[directory(check)], check["check_id"], check["resource"])
        for check in results["failed_checks"]
    ]
    assert not failed
    assert {directory(check) for check in results["passed_checks"]} == set(variants)
    assert report["summary"]["parsing_errors"] == 0
    # The skips above are not run at all; none is written into a manifest.
    assert report["summary"]["skipped"] == 0


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


def readme_deploy_commands(project: Path) -> list[list[str]]:
    """The kubectl commands of the README's deploy steps, in order, without their comments."""
    readme = (project / "README.md").read_text()
    block = re.search(r"```bash\n(kubectl create namespace .*?)```", readme, re.S)
    assert block, "the README's deploy steps"
    return [shlex.split(line, comments=True) for line in block[1].splitlines() if line]


def matches(item: dict, selector: str | None) -> bool:
    labels = item["metadata"].get("labels", {})
    pairs = (term.split("=", 1) for term in (selector or "").split(",") if term)
    return all(labels.get(key) == value for key, value in pairs)


def test_the_readme_deploys_what_each_pod_reads_before_it(rendered: Path) -> None:
    """Played in the README's order on a new namespace, each `kubectl apply` brings or finds
    the ConfigMaps and Secrets its pods read: the migrations Job, applied first, reads the
    settings too."""
    created: set[tuple[str, str]] = set()
    workloads = 0
    for command in readme_deploy_commands(rendered):
        if command[0] != "kubectl":
            continue
        arguments = command[command.index("-n") + 2 :] if "-n" in command else command[1:]
        if arguments[:3] == ["create", "secret", "generic"]:
            created.add(("Secret", arguments[3]))
        elif arguments[:2] == ["apply", "-k"]:
            selector = arguments[arguments.index("-l") + 1] if "-l" in arguments else None
            applied = [
                item
                for item in kustomize(rendered, PRODUCTION / arguments[2])
                if matches(item, selector)
            ]
            assert applied, command
            created |= {(item["kind"], item["metadata"]["name"]) for item in applied}
            for item in applied:
                if item["kind"] not in ("Deployment", "Job"):
                    continue
                workloads += 1
                (container,) = pod_spec(item)["containers"]
                for source in container["envFrom"]:
                    ((kind, reference),) = source.items()
                    kind = "ConfigMap" if kind == "configMapRef" else "Secret"
                    wanted = (kind, reference["name"])
                    assert wanted in created, f"{item['metadata']['name']} reads {wanted}"
    assert workloads == (3 if answer(rendered, "use_prefect") else 2)


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
