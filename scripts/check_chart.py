"""Checks the operator's Helm chart, the per-environment examples and the CRD copy.

Run by scripts/checks/chart (inside .tools/venv). Renders the chart with the real Helm
engine (helm-python-sdk), validates every manifest against the Kubernetes schemas
(kubernetes-validate) and the example MetricsApps against the CRD's own schema
(check-jsonschema), and asserts the properties the chart promises: least-privilege RBAC
matching the operator's contract, a restricted pod, probes, leader election wiring.
Prints what each step checked; exits non-zero on any failure.

`check_chart.py template -f examples/dev/values.yaml [--set image.tag=...]` prints the
rendered chart instead (CRDs first), for `kubectl apply --server-side -f -` on a test
cluster where no helm binary exists. `E2E=1 E2E_OPERATOR_IMAGE=... check_chart.py e2e`
installs it on the cluster in KUBECONFIG and checks RBAC, examples/dev and leader handover.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import jsonschema
import yaml
from helm_python.chart import Chart, lint
from helm_python.errors import HelmError

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "metricsapp-operator"
CRD = ROOT / "crds" / "metricsapp.yaml"
CHART_CRD = CHART / "crds" / "metricsapp.yaml"
EXAMPLES = ROOT / "examples"
ENVIRONMENTS = ("dev", "staging", "prod")
BIN = Path(sys.executable).parent

KUBE_VERSION = "1.33.0"
# The oldest Kubernetes the chart supports and the newest kubernetes-validate knows.
VALIDATED_KUBE_VERSIONS = (KUBE_VERSION, "1.37.0")
RELEASE = "metricsapp-operator"
NAMESPACE = "metricsapp-system"
OPERATOR_IMAGE = "ghcr.io/metricsapp/metricsapp-operator"
METRICS_PORT = 8080
# No schema ships for the Prometheus Operator's kinds; they are checked by assertions below.
UNVALIDATED_GROUPS = ("monitoring.coreos.com/",)

# The operator's Kubernetes API use, from the agreed contract: (group, resource) -> verbs.
OPERATOR_RULES = {
    ("metricsapp.dev", "metricsapps"): {"list", "watch", "patch", "delete"},
    ("metricsapp.dev", "metricsapps/status"): {"patch"},
    ("metricsapp.dev", "metricsapps/finalizers"): {"update"},
    ("apps", "deployments"): {"list", "watch", "create", "patch"},
    ("", "services"): {"list", "watch", "create", "patch"},
    ("", "configmaps"): {"list", "watch", "create", "patch"},
    ("", "serviceaccounts"): {"list", "watch", "create", "patch"},
    ("autoscaling", "horizontalpodautoscalers"): {"list", "watch", "create", "patch", "delete"},
    ("policy", "poddisruptionbudgets"): {"list", "watch", "create", "patch", "delete"},
    ("networking.k8s.io", "networkpolicies"): {"list", "watch", "create", "patch", "delete"},
    ("", "secrets"): {"list", "watch", "create", "patch"},
    ("events.k8s.io", "events"): {"create", "patch"},
}
LEASE_RULES = {("coordination.k8s.io", "leases"): {"get", "create", "update", "patch"}}
METRIC_NAMES = ("metricsapp_reconcile_failures_total", "metricsapp_ready", "metricsapp_aws_calls_failed_total")
# Every optional feature on at once.
ALL_OPTIONS: dict[str, Any] = {
    "replicaCount": 2,
    "aws": {
        "region": "eu-west-1",
        "endpointUrl": "http://moto.moto.svc.cluster.local:5000",
        "roleArn": "arn:aws:iam::111122223333:role/metricsapp-operator",
    },
    "serviceMonitor": {"enabled": True},
    "prometheusRule": {"enabled": True},
    "podDisruptionBudget": {"enabled": True},
    "networkPolicy": {"enabled": True},
    "limits": {"maxExpireAfter": "168h", "maxPreviews": 5},
    "topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"}
    ],
}


class Failures:
    """Collects failed checks so one run reports all of them."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def check(self, ok: bool, message: str) -> bool:
        if not ok:
            self.messages.append(message)
            print(f"  FAIL {message}")
        return ok


FAIL = Failures()


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def ok(message: str) -> None:
    print(f"  ok   {message}")


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


# ---------------------------------------------------------------- versions


def check_versions() -> None:
    step("Chart.yaml version/appVersion = Cargo workspace version; kubeVersion >= 1.33")
    workspace = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    for key in ("version", "appVersion"):
        if FAIL.check(
            str(chart.get(key)) == workspace,
            f"Chart.yaml {key} is {chart.get(key)!r}, the workspace version is {workspace!r}",
        ):
            ok(f"Chart.yaml {key} = {workspace}")

    constraint = str(chart.get("kubeVersion", ""))
    minimum = re.fullmatch(r">=\s*(\d+)\.(\d+)\.(\d+)(-0)?", constraint)
    if not FAIL.check(
        minimum is not None,
        f"Chart.yaml kubeVersion {constraint!r} is not of the form '>=X.Y.Z-0' this check understands",
    ):
        return
    lowest = tuple(int(part) for part in minimum.groups()[:3])
    supported = tuple(int(part) for part in KUBE_VERSION.split("."))
    if FAIL.check(
        lowest <= supported and lowest >= (1, 33, 0),
        f"kubeVersion {constraint!r} must admit Kubernetes {KUBE_VERSION} and refuse older than 1.33",
    ):
        ok(f"kubeVersion {constraint!r} admits {KUBE_VERSION} and refuses 1.32")


# ---------------------------------------------------------------- CRD copy


def check_crd_copy() -> dict[str, Any] | None:
    step("CRD: crds/metricsapp.yaml exists and the chart carries an identical copy")
    if not FAIL.check(
        CRD.is_file(),
        f"{CRD.relative_to(ROOT)} is missing: generate it with "
        "`cargo run -p metricsapp-operator -- crdgen > crds/metricsapp.yaml`",
    ):
        return None
    if FAIL.check(
        CHART_CRD.is_file() and CHART_CRD.read_bytes() == CRD.read_bytes(),
        f"{CHART_CRD.relative_to(ROOT)} differs from {CRD.relative_to(ROOT)} (or is missing); "
        "fix: cp crds/metricsapp.yaml charts/metricsapp-operator/crds/",
    ):
        ok(f"{CHART_CRD.relative_to(ROOT)} is identical to {CRD.relative_to(ROOT)}")
    documents = [doc for doc in yaml.safe_load_all(CRD.read_text()) if doc]
    crds = [doc for doc in documents if doc.get("kind") == "CustomResourceDefinition"]
    if not FAIL.check(len(crds) == 1, f"{CRD.relative_to(ROOT)} must hold exactly one CRD"):
        return None
    crd = crds[0]
    names = crd.get("spec", {}).get("names", {})
    FAIL.check(
        crd.get("metadata", {}).get("name") == "metricsapps.metricsapp.dev"
        and names.get("kind") == "MetricsApp"
        and "mapp" in names.get("shortNames", []),
        "the CRD must be metricsapps.metricsapp.dev, kind MetricsApp, short name mapp",
    )
    return crd


# ---------------------------------------------------------------- values schema


def example_values() -> dict[str, dict[str, Any]]:
    return {
        env: yaml.safe_load((EXAMPLES / env / "values.yaml").read_text()) or {}
        for env in ENVIRONMENTS
    }


def check_values_schema(chart: Chart, examples: dict[str, dict[str, Any]]) -> None:
    step("values.schema.json: accepts the defaults and the examples, rejects bad values")
    good = {"defaults": {}} | {f"examples/{env}/values.yaml": v for env, v in examples.items()}
    for label, values in good.items():
        try:
            chart.validate_schema(values)
            ok(f"accepted: {label}")
        except HelmError as error:
            FAIL.check(False, f"schema rejected {label}: {error}")

    # Each bad value, and what the error must name so the user can find it.
    bad = {
        "unknown top-level key": ({"replicas": 2}, "'replicas'"),
        "replicaCount of the wrong type": ({"replicaCount": "two"}, "/replicaCount"),
        "replicaCount below 1": ({"replicaCount": 0}, "/replicaCount"),
        "unknown key under aws": ({"aws": {"regoin": "us-east-1"}}, "'regoin'"),
        "aws.region of the wrong type": ({"aws": {"region": 5}}, "/aws/region"),
        "aws.roleArn that is not an IAM role ARN": ({"aws": {"roleArn": "metricsapp"}}, "/aws/roleArn"),
        "defaultDeletionPolicy outside Retain|Delete": ({"defaultDeletionPolicy": "Destroy"}, "/defaultDeletionPolicy"),
        "leaderElection.enabled outside auto|true|false": (
            {"leaderElection": {"enabled": "yes"}},
            "/leaderElection/enabled",
        ),
        "resyncPeriod that is not a duration": ({"resyncPeriod": "often"}, "/resyncPeriod"),
        "resyncPeriod in days, which the operator does not parse": ({"resyncPeriod": "1d"}, "/resyncPeriod"),
        "concurrency 0, which would reconcile nothing": ({"concurrency": 0}, "/concurrency"),
        "a Service type that does not exist": ({"limits": {"serviceTypes": ["Public"]}}, "/limits/serviceTypes/0"),
        "a name prefix with a space": ({"namePrefix": "my app"}, "/namePrefix"),
        "awsDeadline that is not a duration": ({"awsDeadline": "soon"}, "/awsDeadline"),
        "image.digest that is not sha256": ({"image": {"digest": "latest"}}, "/image/digest"),
        "serviceMonitor.enabled of the wrong type": ({"serviceMonitor": {"enabled": "true"}}, "/serviceMonitor/enabled"),
    }
    for label, (values, named) in bad.items():
        try:
            chart.validate_schema(values)
            FAIL.check(False, f"schema accepted bad values ({label}): {values}")
        except HelmError as error:
            message = str(error).strip().splitlines()[-1].strip()
            if FAIL.check(named in str(error), f"schema rejected {label} without naming {named}: {error}"):
                ok(f"rejected {label}: {message}")


def check_values_documented(chart: Chart) -> None:
    step("values.schema.json is a valid draft-07 schema; README documents every value")
    schema = json.loads((CHART / "values.schema.json").read_text())
    try:
        jsonschema.Draft7Validator.check_schema(schema)
        ok("values.schema.json is a valid draft-07 schema")
    except jsonschema.SchemaError as error:
        FAIL.check(False, f"values.schema.json is not a valid draft-07 schema: {error.message}")
    readme = (CHART / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Za-z0-9_.]+)` \|", readme, re.MULTILINE))

    def paths(values: dict[str, Any], prefix: str = "") -> list[str]:
        found = []
        for key, value in values.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict) and value and path not in documented:
                found.extend(paths(value, path + "."))
            else:
                found.append(path)
        return found

    undocumented = [path for path in paths(chart.values) if path not in documented]
    if FAIL.check(not undocumented, f"charts/metricsapp-operator/README.md's values table lacks {undocumented}"):
        ok(f"README values table covers all {len(paths(chart.values))} values")


# ---------------------------------------------------------------- lint


def check_lint(examples: dict[str, dict[str, Any]]) -> None:
    step(f"helm lint --strict --kube-version {KUBE_VERSION} (defaults and each example)")
    cases = {"defaults": {}} | {f"examples/{env}/values.yaml": v for env, v in examples.items()}
    cases["all options on, single namespace"] = ALL_OPTIONS | {"watchNamespace": "metricsapp-apps"}
    for label, values in cases.items():
        report = lint(CHART, values, strict=True, kube_version=KUBE_VERSION, namespace=NAMESPACE)
        problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
        problems_text = "; ".join(f"{m['path']}: {m['error']}" for m in problems)
        errors = "; ".join(report.get("errors", []))
        if FAIL.check(
            not problems and not errors, f"lint ({label}): {problems_text or ''} {errors}".strip()
        ):
            notes = [m["error"] for m in report.get("messages", []) if m.get("severity", 0) < 2]
            ok(f"lint clean: {label}" + (f" (info: {'; '.join(notes)})" if notes else ""))


# ---------------------------------------------------------------- rendering


def render(chart: Chart, values: dict[str, Any]) -> list[dict[str, Any]]:
    rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    documents = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        documents.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return documents


def find(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc.get("kind") == kind]


def one(docs: list[dict[str, Any]], kind: str, label: str) -> dict[str, Any] | None:
    found = find(docs, kind)
    if FAIL.check(len(found) == 1, f"{label}: expected one {kind}, rendered {len(found)}"):
        return found[0]
    return None


def grants(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                granted.setdefault((group, resource), set()).update(rule.get("verbs", []))
    return granted


def validate_manifests(docs: list[dict[str, Any]], label: str) -> None:
    """kubernetes-validate --strict on every manifest, in one process per scenario."""
    checked = [d for d in docs if not str(d.get("apiVersion", "")).startswith(UNVALIDATED_GROUPS)]
    skipped = [d for d in docs if d not in checked]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump_all(checked, handle, sort_keys=False)
    for version in VALIDATED_KUBE_VERSIONS:
        result = run([str(BIN / "kubernetes-validate"), "-k", version, "--strict", "--quiet", handle.name])
        output = (result.stdout + result.stderr).strip()
        if FAIL.check(
            result.returncode == 0 and "WARN" not in output and "ERROR" not in output,
            f"{label}: kubernetes-validate -k {version} --strict failed:\n{output}",
        ):
            kinds = ", ".join(sorted({d["kind"] for d in checked}))
            ok(f"{label}: {len(checked)} manifests valid for Kubernetes {version} (strict): {kinds}")
    Path(handle.name).unlink()
    for doc in skipped:
        print(
            f"  skip {label}: {doc['kind']} ({doc['apiVersion']}) not schema-validated: no "
            "schema ships for monitoring.coreos.com; its fields are asserted below"
        )


def check_rbac(docs: list[dict[str, Any]], label: str, watch_namespace: str) -> None:
    for doc in find(docs, "Role") + find(docs, "ClusterRole"):
        for rule in doc.get("rules", []):
            fields = ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs")
            wildcard = any("*" in str(item) for field in fields for item in rule.get(field, []))
            FAIL.check(not wildcard, f"{label}: wildcard in {doc['kind']} {doc['metadata']['name']}: {rule}")

    account = service_account_name(docs, label)
    fullname = RELEASE
    if watch_namespace:
        FAIL.check(
            not any(d["metadata"]["name"] == fullname for d in find(docs, "ClusterRole"))
            and not find(docs, "ClusterRoleBinding"),
            f"{label}: single-namespace mode must not grant a ClusterRole to the operator",
        )
        roles = [d for d in find(docs, "Role") if d["metadata"].get("namespace") == watch_namespace]
        bindings = [
            d for d in find(docs, "RoleBinding") if d["metadata"].get("namespace") == watch_namespace
        ]
        kind = "Role"
    else:
        roles = [d for d in find(docs, "ClusterRole") if d["metadata"]["name"] == fullname]
        bindings = find(docs, "ClusterRoleBinding")
        kind = "ClusterRole"
    if not FAIL.check(len(roles) == 1 and len(bindings) == 1, f"{label}: expected one operator {kind} and its binding"):
        return
    granted = grants(roles[0]["rules"])
    if FAIL.check(
        granted == OPERATOR_RULES,
        f"{label}: operator {kind} differs from the contract: {rbac_difference(granted, OPERATOR_RULES)}",
    ):
        ok(f"{label}: operator {kind} grants exactly the contract's {len(OPERATOR_RULES)} resources, no wildcards")
    binding = bindings[0]
    FAIL.check(
        binding["roleRef"]["kind"] == kind
        and binding["roleRef"]["name"] == roles[0]["metadata"]["name"]
        and binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}],
        f"{label}: the {kind}Binding must bind {roles[0]['metadata']['name']} to ServiceAccount {NAMESPACE}/{account}",
    )

    for role in find(docs, "ClusterRole"):
        if role["metadata"]["name"] == fullname:
            continue
        groups = {g for g, _ in grants(role["rules"])}
        FAIL.check(
            groups == {"metricsapp.dev"},
            f"{label}: aggregated ClusterRole {role['metadata']['name']} may only grant metricsapp.dev",
        )


def rbac_difference(granted: dict[tuple[str, str], set[str]], wanted: dict[tuple[str, str], set[str]]) -> str:
    parts = []
    for group, resource in sorted(granted.keys() | wanted.keys()):
        have, want = granted.get((group, resource), set()), wanted.get((group, resource), set())
        name = f"{group or 'core'}/{resource}"
        if have - want:
            parts.append(f"{name} grants extra {sorted(have - want)}")
        if want - have:
            parts.append(f"{name} lacks {sorted(want - have)}")
    return "; ".join(parts)


def service_account_name(docs: list[dict[str, Any]], label: str) -> str:
    deployment = one(docs, "Deployment", label)
    return deployment["spec"]["template"]["spec"].get("serviceAccountName", "") if deployment else ""


def operator_container(docs: list[dict[str, Any]], label: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    deployment = one(docs, "Deployment", label)
    if deployment is None:
        return None
    pod = deployment["spec"]["template"]["spec"]
    containers = pod.get("containers", [])
    if not FAIL.check(len(containers) == 1, f"{label}: expected one operator container"):
        return None
    return pod, containers[0]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def check_pod(docs: list[dict[str, Any]], label: str) -> None:
    found = operator_container(docs, label)
    if found is None:
        return
    pod, container = found
    failures_before = len(FAIL.messages)
    security = container.get("securityContext", {})
    pod_security = pod.get("securityContext", {})
    restricted = {
        "runAsNonRoot": security.get("runAsNonRoot") is True or pod_security.get("runAsNonRoot") is True,
        "readOnlyRootFilesystem": security.get("readOnlyRootFilesystem") is True,
        "capabilities.drop ALL": security.get("capabilities", {}).get("drop") == ["ALL"],
        "allowPrivilegeEscalation false": security.get("allowPrivilegeEscalation") is False,
        "seccompProfile RuntimeDefault": (
            security.get("seccompProfile", pod_security.get("seccompProfile", {})).get("type") == "RuntimeDefault"
        ),
        "no added capabilities": not security.get("capabilities", {}).get("add"),
        "not privileged": not security.get("privileged"),
    }
    missing = [name for name, present in restricted.items() if not present]
    if FAIL.check(not missing, f"{label}: operator securityContext lacks {missing}"):
        ok(f"{label}: restricted securityContext ({', '.join(restricted)})")

    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container.get(probe, {}).get("httpGet", {})
        port = ports.get(get.get("port"), get.get("port"))
        FAIL.check(
            get.get("path") == path and port == METRICS_PORT,
            f"{label}: {probe} must GET {path} on port {METRICS_PORT}, got {get}",
        )
    resources = container.get("resources", {})
    FAIL.check(
        bool(resources.get("requests")) and bool(resources.get("limits", {}).get("memory")),
        f"{label}: operator container needs resource requests and a memory limit",
    )
    FAIL.check(
        container.get("image", "").startswith(OPERATOR_IMAGE + ":")
        or container.get("image", "").startswith(OPERATOR_IMAGE + "@sha256:"),
        f"{label}: operator image must be {OPERATOR_IMAGE}, got {container.get('image')}",
    )
    args = container.get("args", [])
    FAIL.check(
        args[:1] == ["run"] and f"--metrics-addr=0.0.0.0:{METRICS_PORT}" in args,
        f"{label}: operator args must start with `run` and serve metrics on port {METRICS_PORT}: {args}",
    )
    if len(FAIL.messages) == failures_before:
        ok(f"{label}: probes /healthz and /readyz on port {METRICS_PORT}, resources, image {container.get('image')}")

    service = [s for s in find(docs, "Service") if s["metadata"]["name"].endswith("-metrics")]
    if FAIL.check(len(service) == 1, f"{label}: expected one metrics Service"):
        labels = pod_labels(docs)
        selector = service[0]["spec"]["selector"]
        target = service[0]["spec"]["ports"][0]["targetPort"]
        FAIL.check(
            selector.items() <= labels.items() and ports.get(target, target) == METRICS_PORT,
            f"{label}: metrics Service must select the operator pods and target port {METRICS_PORT}",
        )


def pod_labels(docs: list[dict[str, Any]]) -> dict[str, str]:
    deployment = find(docs, "Deployment")[0]
    return deployment["spec"]["template"]["metadata"]["labels"]


def check_leader_election(docs: list[dict[str, Any]], label: str, expected: bool) -> None:
    found = operator_container(docs, label)
    if found is None:
        return
    _, container = found
    args = container.get("args", [])
    env = env_of(container)
    lease_roles = [
        d for d in find(docs, "Role") if any(("coordination.k8s.io", "leases") in grants([r]) for r in d["rules"])
    ]
    if not expected:
        FAIL.check(
            not any(arg.startswith("--leader-election") for arg in args) and not lease_roles,
            f"{label}: leader election must be off (one replica): args {args}, lease Roles {len(lease_roles)}",
        )
        ok(f"{label}: leader election off")
        return
    downward = {
        name: (env.get(name) or {}).get("fieldRef", {}).get("fieldPath")
        for name in ("POD_NAME", "POD_NAMESPACE")
    }
    FAIL.check(
        "--leader-election=true" in args
        and "--lease-namespace=$(POD_NAMESPACE)" in args
        and downward == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"},
        f"{label}: leader election needs --leader-election=true, --lease-namespace=$(POD_NAMESPACE) and "
        f"POD_NAME/POD_NAMESPACE from the downward API: args {args}, env {downward}",
    )
    if not FAIL.check(len(lease_roles) == 1, f"{label}: expected one Role for the leader Lease"):
        return
    role = lease_roles[0]
    bindings = [b for b in find(docs, "RoleBinding") if b["roleRef"]["name"] == role["metadata"]["name"]]
    FAIL.check(
        role["metadata"]["namespace"] == NAMESPACE
        and grants(role["rules"]) == LEASE_RULES
        and len(bindings) == 1
        and bindings[0]["metadata"]["namespace"] == NAMESPACE
        and bindings[0]["subjects"][0]["name"] == service_account_name(docs, label),
        f"{label}: the Lease Role must grant only {LEASE_RULES} in {NAMESPACE}, bound to the operator",
    )
    lease_name = next((a.split("=", 1)[1] for a in args if a.startswith("--lease-name=")), None)
    named = [r for r in role["rules"] if r.get("resourceNames")]
    FAIL.check(
        all(r["resourceNames"] == [lease_name] for r in named),
        f"{label}: Lease Role resourceNames must be the lease the operator uses ({lease_name})",
    )
    ok(f"{label}: leader election on, Lease {NAMESPACE}/{lease_name}, Role limited to leases")


def check_aws(docs: list[dict[str, Any]], label: str, values: dict[str, Any]) -> None:
    found = operator_container(docs, label)
    if found is None:
        return
    _, container = found
    env = env_of(container)
    aws = values.get("aws", {})
    FAIL.check(
        env.get("AWS_REGION") == (aws.get("region") or None)
        and env.get("AWS_ENDPOINT_URL") == (aws.get("endpointUrl") or None),
        f"{label}: AWS_REGION/AWS_ENDPOINT_URL must follow aws.region/aws.endpointUrl: {env}",
    )
    accounts = find(docs, "ServiceAccount")
    if not values["serviceAccount"]["create"]:
        FAIL.check(
            not accounts and service_account_name(docs, label) == values["serviceAccount"]["name"],
            f"{label}: with serviceAccount.create false the pods must run as serviceAccount.name "
            "and the chart must not create one",
        )
    elif FAIL.check(len(accounts) == 1, f"{label}: expected one ServiceAccount"):
        annotation = (accounts[0]["metadata"].get("annotations") or {}).get("eks.amazonaws.com/role-arn")
        FAIL.check(
            annotation == (aws.get("roleArn") or None),
            f"{label}: ServiceAccount IRSA annotation must be aws.roleArn ({aws.get('roleArn')!r}), got {annotation!r}",
        )
        FAIL.check(
            accounts[0]["metadata"]["name"] == service_account_name(docs, label),
            f"{label}: the Deployment must run under the chart's ServiceAccount",
        )
    ok(f"{label}: AWS region/endpoint env and IRSA annotation follow the values")


def check_optional(docs: list[dict[str, Any]], label: str, values: dict[str, Any]) -> None:
    labels = pod_labels(docs)
    expectations: list[tuple[str, bool, Callable[[dict[str, Any]], bool], str]] = [
        (
            "ServiceMonitor",
            values.get("serviceMonitor", {}).get("enabled", False),
            lambda d: d["spec"]["endpoints"][0]["port"] == "http-metrics"
            and d["spec"]["endpoints"][0]["path"] == "/metrics"
            and d["spec"]["selector"]["matchLabels"].items()
            <= next(s for s in find(docs, "Service"))["metadata"]["labels"].items(),
            "scrapes /metrics on the metrics Service's http-metrics port",
        ),
        (
            "PrometheusRule",
            values.get("prometheusRule", {}).get("enabled", False),
            lambda d: all(
                any(name in rule["expr"] for rule in d["spec"]["groups"][0]["rules"]) for name in METRIC_NAMES
            )
            and {r["alert"] for r in d["spec"]["groups"][0]["rules"]}
            >= {"MetricsAppReconcileFailing", "MetricsAppNotReady", "MetricsAppAwsThrottled"}
            and sustained_throttling(d, values),
            f"alerts on {', '.join(METRIC_NAMES)}, on throttling only when it lasts",
        ),
        (
            "PodDisruptionBudget",
            values.get("podDisruptionBudget", {}).get("enabled", False),
            lambda d: d["spec"]["selector"]["matchLabels"].items() <= labels.items(),
            "selects the operator pods",
        ),
        (
            "NetworkPolicy",
            values.get("networkPolicy", {}).get("enabled", False),
            lambda d: d["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
            and any(
                p.get("port") in ("http-metrics", METRICS_PORT)
                for rule in d["spec"]["ingress"]
                for p in rule.get("ports", [])
            )
            and set(d["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and endpoint_port(values) in {p.get("port") for rule in d["spec"]["egress"] for p in rule.get("ports", [])},
            f"selects the operator pods, admits port {METRICS_PORT}, lets the operator reach DNS, "
            "the API server and the AWS endpoint only",
        ),
    ]
    for kind, enabled, holds, what in expectations:
        found = find(docs, kind)
        if not enabled:
            FAIL.check(not found, f"{label}: {kind} rendered although it is disabled")
            continue
        if FAIL.check(len(found) == 1, f"{label}: {kind} enabled but {len(found)} rendered"):
            if FAIL.check(holds(found[0]), f"{label}: {kind} must be one that {what}: {found[0]}"):
                ok(f"{label}: {kind} {what}")


def sustained_throttling(rule: dict[str, Any], values: dict[str, Any]) -> bool:
    """The throttling alert reads the throttled attempts of this operator as a rate over
    a window and waits as long again: a single throttle, which the SDK retries and Ready
    holds through, must not fire it."""
    window = values["prometheusRule"]["throttledFor"]
    alerts = [r for r in rule["spec"]["groups"][0]["rules"] if r["alert"] == "MetricsAppAwsThrottled"]
    return len(alerts) == 1 and all(
        'kind="throttled"' in a["expr"]
        and f"rate(metricsapp_aws_calls_failed_total{{" in a["expr"]
        and f"}}[{window}]))" in a["expr"]
        and "job=" in a["expr"]
        and a.get("for") == window
        for a in alerts
    )


def endpoint_port(values: dict[str, Any]) -> int:
    """The TCP port the operator needs for AWS: aws.endpointUrl's, else HTTPS."""
    url = urlsplit(values.get("aws", {}).get("endpointUrl") or "https://dynamodb.amazonaws.com")
    return url.port or (443 if url.scheme == "https" else 80)


def check_alert_expressions(docs: list[dict[str, Any]], label: str) -> None:
    rules = [rule for doc in find(docs, "PrometheusRule") for group in doc["spec"]["groups"] for rule in group["rules"]]
    if not rules:
        return
    # A missing parser fails the check: scripts/requirements-test.txt installs it.
    import promql_parser

    failures_before = len(FAIL.messages)
    for rule in rules:
        try:
            promql_parser.parse(rule["expr"])
        except ValueError as error:
            FAIL.check(False, f"{label}: alert {rule['alert']} has invalid PromQL ({error}): {rule['expr']}")
    if len(FAIL.messages) == failures_before:
        ok(f"{label}: PromQL of {len(rules)} alerts parses")


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def check_renders(chart: Chart, examples: dict[str, dict[str, Any]]) -> None:
    scenarios: dict[str, dict[str, Any]] = {"defaults": {}}
    scenarios |= {f"examples/{env}": values for env, values in examples.items()}
    scenarios["single namespace"] = {"watchNamespace": "metricsapp-apps"}
    scenarios["all options on"] = ALL_OPTIONS
    scenarios["all options on, single namespace"] = ALL_OPTIONS | {"watchNamespace": "metricsapp-apps"}
    scenarios["leader election forced on, 1 replica"] = {"leaderElection": {"enabled": True}}
    scenarios["existing ServiceAccount, 2 replicas"] = {
        "replicaCount": 2,
        "serviceAccount": {"create": False, "name": "platform-operator"},
    }

    for label, values in scenarios.items():
        step(f"render: {label}")
        try:
            docs = render(chart, values)
        except HelmError as error:
            FAIL.check(False, f"{label}: render failed: {error}")
            continue
        effective = merged(chart.values, values)
        validate_manifests(docs, label)
        check_rbac(docs, label, effective.get("watchNamespace", ""))
        check_pod(docs, label)
        enabled = effective["leaderElection"]["enabled"]
        leader = effective["replicaCount"] > 1 if enabled == "auto" else bool(enabled)
        check_leader_election(docs, label, leader)
        check_aws(docs, label, effective)
        check_optional(docs, label, effective)
        check_alert_expressions(docs, label)

    step("render: refused combinations")
    refused = {
        "two replicas without leader election": (
            {"replicaCount": 2, "leaderElection": {"enabled": False}},
            "leaderElection.enabled",
        ),
        "no ServiceAccount to create and none named": ({"serviceAccount": {"create": False}}, "serviceAccount.name"),
    }
    for what, (values, named) in refused.items():
        try:
            render(chart, values)
            FAIL.check(False, f"{what} rendered; it must be refused")
        except HelmError as error:
            message = str(error).strip().splitlines()[-1]
            if FAIL.check(named in message, f"{what} refused without naming {named}: {message}"):
                ok(f"{what} refused: {message}")


def check_operator_flags(chart: Chart, examples: dict[str, dict[str, Any]]) -> None:
    """The chart and the operator binary must agree on flags and their values, or the pod
    crash-loops. clap parses (and validates) each argument before it acts on a trailing
    --help, so `<binary> <the chart's args> --help` succeeds only if all of them parse."""
    step("operator flags: the operator binary parses the args the chart renders")
    build = run(["cargo", "build", "--quiet", "--locked", "-p", "metricsapp-operator", "--bin", "metricsapp-operator"])
    if not FAIL.check(build.returncode == 0, f"cargo build -p metricsapp-operator failed:\n{build.stderr[-3000:]}"):
        return
    binary = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "metricsapp-operator"
    scenarios = {"defaults": {}} | {f"examples/{env}": values for env, values in examples.items()}
    scenarios["all options on, single namespace"] = ALL_OPTIONS | {"watchNamespace": "metricsapp-apps"}
    for label, values in scenarios.items():
        found = operator_container(render(chart, values), label)
        if found is None:
            continue
        args = found[1]["args"]
        if label.startswith("all options on"):
            for flag in ("--max-expire-after=168h", "--max-previews=5"):
                FAIL.check(flag in args, f"{label}: limits.* values must render {flag}: {args}")
        parsed = run([str(binary), *args, "--help"])
        if FAIL.check(
            parsed.returncode == 0,
            f"{label}: `metricsapp-operator {' '.join(args)}` is refused by the operator: "
            f"{(parsed.stderr or parsed.stdout).strip()[:800]}",
        ):
            ok(f"{label}: the operator parses `{' '.join(args)}`")


def check_operator_entrypoint() -> None:
    """The chart passes `run ...` as args, so the image's ENTRYPOINT must be the bare binary."""
    step("operator/Dockerfile: ENTRYPOINT is the operator binary alone (the chart's args start with `run`)")
    dockerfile = ROOT / "operator" / "Dockerfile"
    if not FAIL.check(dockerfile.is_file(), "operator/Dockerfile is missing: the chart's image is built from it"):
        return
    entrypoints = re.findall(r"^\s*ENTRYPOINT\s+(.+)$", dockerfile.read_text(), re.MULTILINE | re.IGNORECASE)
    if not FAIL.check(bool(entrypoints), "operator/Dockerfile has no ENTRYPOINT"):
        return
    try:
        entrypoint = json.loads(entrypoints[-1])
    except json.JSONDecodeError:
        entrypoint = None
    if FAIL.check(
        isinstance(entrypoint, list)
        and len(entrypoint) == 1
        and Path(str(entrypoint[0])).name == "metricsapp-operator",
        f"operator/Dockerfile ENTRYPOINT must be the exec form [\".../metricsapp-operator\"] alone, got {entrypoints[-1]}",
    ):
        ok(f"ENTRYPOINT {entrypoints[-1]}")


# ---------------------------------------------------------------- CRD-level checks


def strict_schema(schema: Any) -> Any:
    """The CRD schema with unknown fields rejected, as `kubectl apply` (strict field
    validation) does; objects that preserve unknown fields or define a map stay open."""
    if isinstance(schema, list):
        return [strict_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: strict_schema(value) for key, value in schema.items()}
    if (
        "properties" in result
        and "additionalProperties" not in result
        and not result.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    return result


def check_crd(crd: dict[str, Any], chart: Chart) -> None:
    step(f"CRD: valid CustomResourceDefinition for Kubernetes {KUBE_VERSION}; Helm loads it from the chart")
    validate_manifests([crd], "crds/metricsapp.yaml")
    FAIL.check(
        any(entry.get("filename", "").endswith("metricsapp.yaml") for entry in chart.crds),
        "the chart does not carry crds/metricsapp.yaml",
    )


def check_example_apps(crd: dict[str, Any]) -> None:
    step("examples/**/metricsapp.yaml against the CRD's openAPIV3Schema (check-jsonschema)")
    group = crd["spec"]["group"]
    versions = [v for v in crd["spec"]["versions"] if v.get("served")]
    storage = next((v for v in versions if v.get("storage")), None)
    if not FAIL.check(storage is not None, "the CRD has no served storage version"):
        return
    api_version = f"{group}/{storage['name']}"
    schema = strict_schema(storage["schema"]["openAPIV3Schema"])
    # The API server supplies these for every object; CRD schemas usually leave them out.
    schema["properties"] = {
        "apiVersion": {"const": api_version},
        "kind": {"const": crd["spec"]["names"]["kind"]},
        "metadata": {"type": "object"},
    } | schema.get("properties", {})
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    with tempfile.TemporaryDirectory() as tmp:
        schema_file = Path(tmp) / "metricsapp.schema.json"
        schema_file.write_text(json.dumps(schema))
        files = sorted(EXAMPLES.glob("**/metricsapp.yaml"))
        result = run([str(BIN / "check-jsonschema"), "--schemafile", str(schema_file), *map(str, files)])
        if FAIL.check(result.returncode == 0, f"example MetricsApps do not match the CRD schema:\n{result.stdout}{result.stderr}"):
            ok(f"{len(files)} examples match the {api_version} schema (unknown fields rejected)")

        breakages = {
            "billingMode FAST": lambda app: app["spec"]["table"].__setitem__("billingMode", "FAST"),
            "unknown field spec.replica": lambda app: app["spec"].__setitem__("replica", 1),
            "replicas of the wrong type": lambda app: app["spec"].__setitem__("replicas", "three"),
            "no image": lambda app: app["spec"].pop("image"),
        }
        for what, breakage in breakages.items():
            broken = yaml.safe_load((EXAMPLES / "dev" / "metricsapp.yaml").read_text())
            breakage(broken)
            bad_file = Path(tmp) / "broken-metricsapp.yaml"
            bad_file.write_text(yaml.safe_dump(broken))
            result = run([str(BIN / "check-jsonschema"), "--schemafile", str(schema_file), str(bad_file)])
            if FAIL.check(result.returncode == 1, f"a MetricsApp with {what} passed the CRD schema"):
                ok(f"a MetricsApp with {what} is rejected")
    print("  note CEL rules (x-kubernetes-validations) are enforced by the API server, not checked here")

    apps = {env: yaml.safe_load((EXAMPLES / env / "metricsapp.yaml").read_text()) for env in ENVIRONMENTS}
    check_environment_promises(apps)


def check_environment_promises(apps: dict[str, dict[str, Any]]) -> None:
    """The examples are documentation: hold them to what the README says they show."""
    prod, staging, dev = apps["prod"]["spec"], apps["staging"]["spec"], apps["dev"]["spec"]
    promises = {
        "prod: PROVISIONED 5/5 with PITR, 3..10 autoscaled replicas, Retain, backup before delete": prod["table"].get(
            "billingMode"
        )
        == "PROVISIONED"
        and (prod["table"].get("readCapacity"), prod["table"].get("writeCapacity")) == (5, 5)
        and prod["table"].get("pointInTimeRecovery") is True
        and prod.get("autoscaling", {}).get("minReplicas") == 3
        and prod.get("autoscaling", {}).get("maxReplicas") == 10
        and prod["table"].get("deletionPolicy") == "Retain"
        and prod["table"].get("backupBeforeDelete") is True,
        "staging: on-demand, 2 replicas, Retain": staging["table"].get("billingMode") == "PAY_PER_REQUEST"
        and staging.get("replicas") == 2
        and staging["table"].get("deletionPolicy") == "Retain",
        "dev: on-demand, 1 replica": dev["table"].get("billingMode") == "PAY_PER_REQUEST" and dev.get("replicas") == 1,
        "images are ghcr.io/metricsapp/metrics-app tags (digests are set at deploy time)": all(
            re.fullmatch(r"ghcr\.io/metricsapp/metrics-app:\d+\.\d+\.\d+", app["spec"]["image"]) for app in apps.values()
        ),
    }
    for promise, holds in promises.items():
        if FAIL.check(holds, f"examples break their promise: {promise}"):
            ok(promise)


# ---------------------------------------------------------------- yamllint

YAMLLINT_CONFIG = "{extends: default, rules: {line-length: {max: 100}, truthy: {check-keys: false}}}"


def check_yamllint() -> None:
    step("yamllint --strict on the examples, values.yaml and Chart.yaml")
    files = sorted(EXAMPLES.glob("*/*.yaml")) + [CHART / "values.yaml", CHART / "Chart.yaml"]
    result = run([str(BIN / "yamllint"), "--strict", "-d", YAMLLINT_CONFIG, *map(str, files)])
    if FAIL.check(result.returncode == 0, f"yamllint found problems:\n{result.stdout}{result.stderr}"):
        ok(f"{len(files)} files clean")


def run_checks() -> int:
    check_versions()
    crd = check_crd_copy()
    examples = example_values()
    check_yamllint()
    with Chart.load(CHART) as chart:
        check_values_schema(chart, examples)
        check_values_documented(chart)
        check_lint(examples)
        check_renders(chart, examples)
        check_operator_flags(chart, examples)
        check_operator_entrypoint()
        if crd is not None:
            check_crd(crd, chart)
            check_example_apps(crd)
        else:
            step("examples/*/metricsapp.yaml against the CRD schema")
            FAIL.check(False, "not checked: crds/metricsapp.yaml is missing (see above)")

    print()
    if FAIL.messages:
        print(f"chart check FAILED ({len(FAIL.messages)}):")
        for message in FAIL.messages:
            print(f"  - {message.splitlines()[0]}")
        return 1
    print("chart check passed")
    return 0


# Apply order of the kinds this chart renders (Helm's install order, abridged).
INSTALL_ORDER = (
    "CustomResourceDefinition",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
    "Deployment",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "ServiceMonitor",
    "PrometheusRule",
)


def set_value(values: dict[str, Any], assignment: str) -> None:
    path, separator, raw = assignment.partition("=")
    if not separator or not path:
        raise SystemExit(f"--set expects key.path=value, got {assignment!r}")
    *parents, leaf = path.split(".")
    node = values
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = yaml.safe_load(raw)


def template(args: argparse.Namespace) -> int:
    """Prints the chart's manifests like `helm template --include-crds`, for applying
    with `kubectl apply --server-side -f -` where no helm binary exists (e.g. CI)."""
    values: dict[str, Any] = {}
    for file in args.values:
        values = merged(values, yaml.safe_load(Path(file).read_text()) or {})
    for assignment in args.set:
        set_value(values, assignment)
    with Chart.load(CHART) as chart:
        try:
            chart.validate_schema(values)
            rendered = chart.render(values, name=args.release, namespace=args.namespace, is_install=True)
        except HelmError as error:
            print(f"cannot render the chart: {error}", file=sys.stderr)
            return 1
        documents = [doc for entry in chart.crds for doc in yaml.safe_load_all(entry["data"]) if doc]
    for path, text in sorted(rendered.items()):
        if not path.endswith("NOTES.txt"):
            documents.extend(doc for doc in yaml.safe_load_all(text) if doc)
    rank = {kind: index for index, kind in enumerate(INSTALL_ORDER)}
    documents.sort(key=lambda doc: rank.get(doc["kind"], len(rank)))
    yaml.safe_dump_all(documents, sys.stdout, sort_keys=False)
    return 0


# ---------------------------------------------------------------- e2e against a cluster

E2E_NAMESPACE = "metricsapp-chart-e2e"
# What the operator must never be able to do (spot checks of least privilege).
FORBIDDEN = (("get", "secrets"), ("delete", "metricsapps.metricsapp.dev"), ("delete", "pods"), ("create", "clusterroles"))


def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def e2e_rbac(account: str) -> None:
    """Asks the API server, as the operator's ServiceAccount, for each permission of the
    contract (must be allowed) and a few it must not have."""
    failures = 0
    as_operator = f"--as=system:serviceaccount:{NAMESPACE}:{account}"
    for (group, resource), verbs in sorted(OPERATOR_RULES.items()):
        kind, _, subresource = resource.partition("/")
        qualified = f"{kind}.{group}" if group else kind
        for verb in sorted(verbs):
            extra = [f"--subresource={subresource}"] if subresource else []
            allowed = kubectl("auth", "can-i", verb, qualified, *extra, "--all-namespaces", as_operator, check=False)
            failures += not FAIL.check(allowed.returncode == 0, f"the operator may not {verb} {resource}.{group}")
    lease = f"leases.coordination.k8s.io/{RELEASE}"
    for verb in sorted(next(iter(LEASE_RULES.values()))):
        target = "leases.coordination.k8s.io" if verb == "create" else lease
        allowed = kubectl("auth", "can-i", verb, target, "-n", NAMESPACE, as_operator, check=False)
        failures += not FAIL.check(allowed.returncode == 0, f"the operator may not {verb} {target} in {NAMESPACE}")
    for verb, resource in FORBIDDEN:
        allowed = kubectl("auth", "can-i", verb, resource, "--all-namespaces", as_operator, check=False)
        failures += not FAIL.check(allowed.returncode != 0, f"the operator may {verb} {resource}: more than it needs")
    if not failures:
        ok(f"the API server grants the operator every contract permission and refuses {len(FORBIDDEN)} it must not have")


def lease_holder() -> str:
    lease = kubectl("get", "lease", RELEASE, "-n", NAMESPACE, "-o", "json", check=False)
    if lease.returncode != 0:
        return ""
    return json.loads(lease.stdout).get("spec", {}).get("holderIdentity") or ""


def e2e_handover() -> None:
    """Kills the leader's pod without grace and measures how long until another replica
    holds the Lease (a figure, not a timed assertion; 120 s is the give-up point)."""
    deadline = time.monotonic() + 120
    holder = lease_holder()
    while not holder and time.monotonic() < deadline:
        time.sleep(0.5)
        holder = lease_holder()
    if not FAIL.check(bool(holder), f"no replica took the Lease {NAMESPACE}/{RELEASE}"):
        return
    kubectl("delete", "pod", holder, "-n", NAMESPACE, "--grace-period=0", "--force", "--wait=false")
    killed = time.monotonic()
    successor = ""
    while time.monotonic() < killed + 120:
        successor = lease_holder()
        if successor and successor != holder:
            break
        time.sleep(0.25)
    seconds = time.monotonic() - killed
    if FAIL.check(bool(successor) and successor != holder, f"no replica took over the Lease from {holder} in 120 s"):
        ok(f"leader {holder} killed; {successor} holds the Lease after {seconds:.1f} s")
    kubectl("rollout", "status", "deployment/" + RELEASE, "-n", NAMESPACE, "--timeout=180s")


def e2e_refusals(selector: str, when: str) -> None:
    """The API server's refusals show up in the operator's logs as `... is forbidden`."""
    logs = kubectl("logs", "-l", selector, "-n", NAMESPACE, "--tail=-1", "--prefix", check=False).stdout
    refused = [line for line in logs.splitlines() if "forbidden" in line.lower()]
    if FAIL.check(not refused, f"the API server refused the operator ({when}): {refused[:5]}"):
        ok(f"no request of the operator was refused ({when}; no 'forbidden' in its logs)")


def e2e() -> int:
    """Installs the rendered chart on the cluster in KUBECONFIG with two replicas, checks
    its RBAC through the API server, applies examples/dev until Ready, and kills the
    leader to measure the handover."""
    if os.environ.get("E2E") != "1":
        print("SKIPPED (set E2E=1 and KUBECONFIG to run against a cluster)")
        return 0
    image = os.environ.get("E2E_OPERATOR_IMAGE", "")
    pinned = re.fullmatch(r"(?P<repository>[^@]+?)(?::(?P<tag>[\w][\w.-]*)|@(?P<digest>sha256:[0-9a-f]{64}))", image)
    if pinned is None:
        raise SystemExit("E2E_OPERATOR_IMAGE must name the operator image with a tag or digest, "
                         "e.g. ghcr.io/metricsapp/metricsapp-operator:e2e")
    app_image = os.environ.get("E2E_APP_IMAGE", "")
    endpoint = os.environ.get("E2E_APP_ENDPOINT_URL", "http://moto.moto.svc.cluster.local:5000")
    values = merged(
        yaml.safe_load((EXAMPLES / "dev" / "values.yaml").read_text()),
        {
            "replicaCount": 2,
            "image": {
                "repository": pinned["repository"],
                "tag": pinned["tag"] or "",
                "digest": pinned["digest"] or "",
                "pullPolicy": "IfNotPresent",
            },
            "aws": {"endpointUrl": endpoint},
        },
    )
    step(f"e2e: install the chart (2 replicas, image {image}) into {NAMESPACE}")
    kubectl("create", "namespace", NAMESPACE, check=False)
    with Chart.load(CHART) as chart:
        chart.validate_schema(values)
        docs = render(chart, values)
        crds = [doc for entry in chart.crds for doc in yaml.safe_load_all(entry["data"]) if doc]
    kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(crds))
    kubectl("wait", "--for=condition=Established", "crd/metricsapps.metricsapp.dev", "--timeout=60s")
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=yaml.safe_dump_all(docs))
    kubectl("rollout", "status", "deployment/" + RELEASE, "-n", NAMESPACE, "--timeout=300s")
    ok("operator Deployment rolled out under the chart's ServiceAccount")
    deployment = find(docs, "Deployment")[0]
    selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())

    step("e2e: RBAC as seen by the API server")
    e2e_rbac(service_account_name(docs, "e2e"))

    step(f"e2e: examples/dev/metricsapp.yaml in {E2E_NAMESPACE} becomes Ready")
    app = yaml.safe_load((EXAMPLES / "dev" / "metricsapp.yaml").read_text())
    app["spec"]["table"]["name"] = f"metricsapp-chart-e2e-{uuid.uuid4().hex[:8]}"
    if app_image:
        app["spec"]["image"] = app_image
    for variable in app["spec"].get("env", []):
        if variable["name"] == "AWS_ENDPOINT_URL":
            variable["value"] = endpoint
    kubectl("create", "namespace", E2E_NAMESPACE, check=False)
    kubectl("apply", "-n", E2E_NAMESPACE, "-f", "-", stdin=yaml.safe_dump(app))
    started = time.monotonic()
    ready = kubectl("wait", "-n", E2E_NAMESPACE, "mapp/metrics-app", "--for=condition=Ready", "--timeout=300s", check=False)
    if ready.returncode == 0:
        ok(f"MetricsApp {E2E_NAMESPACE}/metrics-app Ready after {time.monotonic() - started:.1f} s")
    else:
        described = kubectl("describe", "mapp", "-n", E2E_NAMESPACE, "metrics-app", check=False).stdout
        FAIL.check(False, f"MetricsApp did not become Ready: {ready.stderr.strip()}\n{described}")

    e2e_refusals(selector, "while the MetricsApp became Ready")

    step("e2e: leader handover")
    e2e_handover()
    e2e_refusals(selector, "after the handover")

    step("e2e: clean up (the MetricsApp's deletionPolicy Delete removes its table)")
    deleted = kubectl("delete", "mapp", "metrics-app", "-n", E2E_NAMESPACE, "--timeout=180s", check=False)
    FAIL.check(deleted.returncode == 0, f"the MetricsApp was not deleted (finalizer kept?): {deleted.stderr.strip()}")
    kubectl("delete", "namespace", E2E_NAMESPACE, "--timeout=180s", check=False)
    kubectl("delete", "-f", "-", "--ignore-not-found", stdin=yaml.safe_dump_all(docs), check=False)

    print()
    if FAIL.messages:
        print(f"chart e2e FAILED ({len(FAIL.messages)}):")
        for message in FAIL.messages:
            print(f"  - {message.splitlines()[0]}")
        return 1
    print("chart e2e passed")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command")
    printer = commands.add_parser("template", help="print the rendered chart (CRDs first) to stdout")
    printer.add_argument("-f", "--values", action="append", default=[], help="values file (repeatable)")
    printer.add_argument("--set", action="append", default=[], help="key.path=value (YAML), repeatable")
    printer.add_argument("-n", "--namespace", default=NAMESPACE)
    printer.add_argument("--release", default=RELEASE)
    commands.add_parser("e2e", help="install the chart on the cluster in KUBECONFIG (E2E=1) and check it there")
    args = parser.parse_args()
    if args.command == "template":
        return template(args)
    if args.command == "e2e":
        return e2e()
    return run_checks()


if __name__ == "__main__":
    sys.exit(main())
