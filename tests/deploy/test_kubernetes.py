"""deploy/kubernetes: every manifest is valid against the Kubernetes schemas (kubernetes-validate
ships them, so this runs offline), and the pieces fit together (drain, probes, names, keys)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

DEPLOY = Path(__file__).parents[2] / "deploy" / "kubernetes"
VERSIONS = ("1.29.0", "1.33.0")


def _docs() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(DEPLOY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out[doc["kind"]] = doc
    return out


def _arg(args: list[str], name: str) -> str:
    for arg in args:
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"--{name} not in {args}")


def test_the_manifests_are_there() -> None:
    kinds = set(_docs())
    expected = {
        "Deployment",
        "Service",
        "Ingress",
        "HorizontalPodAutoscaler",
        "Secret",
        "PodDisruptionBudget",
        "ConfigMap",
    }
    assert kinds == expected


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_validates_strictly_against_the_schemas(version: str) -> None:
    for path in sorted(DEPLOY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_rejects_a_broken_manifest() -> None:
    broken = _docs()["Deployment"]
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = [1]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_drain_probes_and_wiring_fit_together() -> None:
    docs = _docs()
    deployment, service, ingress = docs["Deployment"], docs["Service"], docs["Ingress"]
    hpa, secret = docs["HorizontalPodAutoscaler"], docs["Secret"]
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    args = container["args"]
    assert args[0] == "serve"
    drain = int(_arg(args, "drain-timeout"))
    # The kubelet kills the pod after the grace period: it must outlast the drain + preStop.
    assert pod["spec"]["terminationGracePeriodSeconds"] > drain + 5
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    pre_stop = " ".join(container["lifecycle"]["preStop"]["exec"]["command"])
    assert "kill -TERM 1" in pre_stop
    port = int(_arg(args, "port"))
    assert container["ports"][0]["containerPort"] == port
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    labels = pod["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"]["name"] == service["spec"]["ports"][0]["name"]
    annotations = ingress["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == "vani_active_calls"
    ref = container["envFrom"][0]["secretRef"]["name"]
    assert ref == secret["metadata"]["name"]
    assert "VANI_SECRET" in secret["stringData"]


def test_the_autoscaled_metric_is_one_vani_exports() -> None:
    from vani.observability import VaniMetrics

    body, _ = VaniMetrics().render()
    assert b"\nvani_active_calls " in body
    rules = _docs()["ConfigMap"]["data"]["config.yaml"]
    assert "vani_active_calls" in rules
