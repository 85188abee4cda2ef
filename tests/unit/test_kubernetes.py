"""The Kubernetes target: every rendered manifest set validates strictly against the real
Kubernetes OpenAPI schemas (kubernetes-validate, oldest and newest minor claimed) and, for
LeaderWorkerSets, against the vendored LWS v0.10.0 CRD; plus what those schemas do not check
(names, quantities, enums, selectors, secrets, probe budgets, GPU scheduling)."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import math
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from ling_compose import catalog
from ling_compose.cli import main
from ling_compose.compose import compile_stack
from ling_compose.describe import start_period_s
from ling_compose.errors import ConfigError
from ling_compose.flags.lint import check_args
from ling_compose.kubernetes import kubernetes_stack, render_manifests
from ling_compose.kubernetes.manifests import pod_templates
from ling_compose.load import load_stack
from ling_compose.models.kubernetes import KubernetesOptions
from ling_compose.models.overrides import Overrides
from tools.flagcat.stackfiles import sampled

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LWS_CRD = FIXTURES / "lws" / "leaderworkerset.x-k8s.io_leaderworkersets.yaml.gz"
LWS_CRD_SHA256 = "c5dcad8ed943e495490241f00b9a1b45d51203b6d484020db3636d5bf553568e"
# The minors claimed (docs/kubernetes.md). Two-digit minors: kubernetes-validate 1.37.0
# compares versions as strings, so "1.3" would silently pick 1.29's schemas.
KUBERNETES_VERSIONS = ("1.29", "1.37")

# Quantity: the pattern of the LWS CRD (controller-gen's copy of apimachinery's), which
# kubernetes-validate's schemas leave out (Quantity there is any string or number).
QUANTITY = re.compile(
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # RFC 1123 label
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")

# Every variant the target renders: each built-in profile, then replicas, multi-node (each
# engine that spans nodes), API keys with a non-cluster Service, storage options.
VARIANTS: dict[str, tuple[str, Overrides]] = {
    **{name: (name, Overrides()) for name in catalog.builtin_profiles()},
    "h100-fp8 x3 rwx": (
        "h100-fp8",
        Overrides(replicas=3, access_mode="ReadWriteMany", storage_class="nfs-client"),
    ),
    "vllm 2 nodes": ("h100-fp8", Overrides(nodes=2, gpus_per_node=2, replicas=2)),
    "vllm 2 nodes api key": (
        "h200-fp8",
        Overrides(nodes=2, gpus_per_node=1, api_key_env="LING_API_KEY", service_type="NodePort"),
    ),
    "sglang 2 nodes": ("4xh20-bf16", Overrides(nodes=2, gpus_per_node=4)),
    "sglang api key lb": (
        "h200-bf16",
        Overrides(
            api_key_env="LING_API_KEY",
            service_type="LoadBalancer",
            api_key_secret="team-key",
            hf_token_secret="team-hf",
        ),
    ),
    "llamacpp api key": ("4090-int4", Overrides(api_key_env="LING_API_KEY")),
}


@cache
def rendered(variant: str) -> tuple[Any, list[dict[str, Any]]]:
    profile, overrides = VARIANTS[variant]
    result = kubernetes_stack(load_stack(profile, overrides), KubernetesOptions.of(overrides))
    # The text is what users apply: parse it back rather than trust the objects.
    return result, list(yaml.safe_load_all(render_manifests(result)))


def _pod_specs(doc: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(template metadata, pod spec) of every pod template in an object."""
    return [(t["metadata"], t["spec"]) for t in pod_templates(doc)]


def _containers(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for d in docs for _, spec in _pod_specs(d) for c in spec["containers"]]


@cache
def lws_validator() -> jsonschema.Draft7Validator:
    """The LWS v1 schema, strict as `kubectl --validate=strict`: an unknown field is an error
    where the API server would prune it (no node of it preserves unknown fields)."""
    raw = gzip.decompress(LWS_CRD.read_bytes())
    assert hashlib.sha256(raw).hexdigest() == LWS_CRD_SHA256, "vendored CRD changed"
    crd = yaml.safe_load(raw)
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]

    def strict(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: strict(v) for k, v in node.items()}
            if "properties" in node and "additionalProperties" not in node:
                assert not node.get("x-kubernetes-preserve-unknown-fields")
                node["additionalProperties"] = False
            return node
        return [strict(n) for n in node] if isinstance(node, list) else node

    return jsonschema.Draft7Validator(strict(version["schema"]["openAPIV3Schema"]))


def validate(doc: dict[str, Any]) -> None:
    """Strict validation of one object; raises on the first error."""
    if doc["kind"] == "LeaderWorkerSet":
        errors = sorted(lws_validator().iter_errors(doc), key=lambda e: list(e.path))
        if errors:
            raise jsonschema.ValidationError(
                "; ".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors)
            )
        # The root metadata is free-form in the CRD (the API server checks it as ObjectMeta),
        # and the pod templates are controller-gen's copy: both also through Kubernetes' own.
        for metadata, spec in [(doc["metadata"], None), *_pod_specs(doc)]:
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata}
            pod["spec"] = spec if spec is not None else {"containers": [{"name": "x"}]}
            for version in KUBERNETES_VERSIONS:
                kubernetes_validate.validate(pod, version, strict=True)
        return
    for version in KUBERNETES_VERSIONS:
        assert kubernetes_validate.validate(doc, version, strict=True) == version


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_manifest_validates_strictly(variant):
    _, docs = rendered(variant)
    assert docs, variant
    for doc in docs:
        validate(doc)


def test_the_validation_is_strict_and_covers_lws():
    """Controls: an unknown field, a bad enum and a non-quantity fail where they should."""
    _, deployment_docs = rendered("h100-fp8")
    deployment = copy.deepcopy(next(d for d in deployment_docs if d["kind"] == "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["shm_size"] = "16g"
    with pytest.raises(kubernetes_validate.ValidationError, match="shm_size"):
        validate(deployment)
    _, lws_docs = rendered("sglang 2 nodes")
    lws = next(d for d in lws_docs if d["kind"] == "LeaderWorkerSet")
    for path, value, message in [
        (("spec", "leaderWorkerTemplate", "sise"), 2, "sise"),
        (("spec", "leaderWorkerTemplate", "restartPolicy"), "Always", "Always"),
        (("spec", "startupPolicy"), "WhenReady", "WhenReady"),
    ]:
        broken = copy.deepcopy(lws)
        node = broken
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        with pytest.raises(jsonschema.ValidationError, match=message):
            validate(broken)
    broken = copy.deepcopy(lws)
    worker = broken["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]
    worker["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = "4 GPUs"
    with pytest.raises(jsonschema.ValidationError, match="4 GPUs"):
        validate(broken)


def _walk(node: Any, key: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [kv for k, v in node.items() for kv in _walk(v, k)]
    if isinstance(node, list):
        return [kv for v in node for kv in _walk(v, key)]
    return [(key, node)]


@pytest.mark.parametrize("variant", VARIANTS)
def test_what_the_schemas_do_not_check(variant):
    """Names, labels, quantities, enums and selectors, which kubernetes-validate lets by."""
    _, docs = rendered(variant)
    for doc in docs:
        assert DNS_LABEL.fullmatch(doc["metadata"]["name"]), doc["metadata"]["name"]
        metadatas = [doc["metadata"], *(m for m, _ in _pod_specs(doc))]
        for labels in (m.get("labels", {}) for m in metadatas):
            for key, value in labels.items():
                prefix, _, name = key.rpartition("/")
                assert LABEL_NAME.fullmatch(name) and (
                    not prefix or DNS_LABEL.fullmatch(prefix.replace(".", "-"))
                ), key
                assert isinstance(value, str) and LABEL_VALUE.fullmatch(value), (key, value)
        for key, value in _walk(doc["spec"]):
            if key in ("memory", "storage", "nvidia.com/gpu", "sizeLimit"):
                assert isinstance(value, str) and QUANTITY.fullmatch(value), (key, value)
            if key == "medium":
                assert value in ("", "Memory")
        if doc["kind"] == "Deployment":
            selector = doc["spec"]["selector"]["matchLabels"]
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= labels.items()
    service = next(d for d in docs if d["kind"] == "Service")
    served = [
        labels
        for d in docs
        for m, _ in _pod_specs(d)
        for labels in [m["labels"]]
        if d["kind"] == "Deployment" or labels["app.kubernetes.io/component"] == "server"
    ]
    assert served, "the Service selects no pod template"
    if docs[0]["kind"] == "LeaderWorkerSet":
        # LWS labels its leader pods worker-index "0" (leaderworkerset_controller.go v0.10.0)
        assert service["spec"]["selector"] == {
            "leaderworkerset.sigs.k8s.io/name": docs[0]["metadata"]["name"],
            "leaderworkerset.sigs.k8s.io/worker-index": "0",
        }
    else:
        assert service["spec"]["selector"].items() <= served[0].items()


@pytest.mark.parametrize("variant", VARIANTS)
def test_gpus_memory_and_shared_memory(variant):
    result, docs = rendered(variant)
    stack, plan = result.stack, result.plan
    for _, spec in (p for d in docs for p in _pod_specs(d)):
        (container,) = spec["containers"]
        limits, requests = container["resources"]["limits"], container["resources"]["requests"]
        # GPUs: per pod = per node, limits == requests (kubernetes.io "Schedule GPUs")
        assert limits["nvidia.com/gpu"] == requests["nvidia.com/gpu"]
        assert int(limits["nvidia.com/gpu"]) == stack.hardware.count // stack.hardware.nodes
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec[
            "tolerations"
        ]
        terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        (expression,) = terms["nodeSelectorTerms"][0]["matchExpressions"]
        assert expression["key"] == "nvidia.com/gpu.product"
        assert expression["values"] == list(stack.hardware.gpu.gfd_products)
        # /dev/shm in memory, counted in the limit with the host RAM the plan needs
        (shm,) = [v for v in spec["volumes"] if v["name"] == "dshm"]
        assert shm["emptyDir"]["medium"] == "Memory"
        assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]
        gib = {k: int(v.removesuffix("Gi")) for k, v in limits.items() if k == "memory"}
        shm_gib = int(shm["emptyDir"]["sizeLimit"].removesuffix("Gi"))
        needed = int(requests["memory"].removesuffix("Gi"))
        host_need = plan.host.needed if plan.host is not None else 0.0
        assert needed >= math.ceil(host_need + shm_gib - 1e-9)
        assert gib["memory"] >= needed >= shm_gib


def test_offloaded_experts_are_in_the_memory_request():
    """llama.cpp keeps routed experts in host RAM: the pod requests them (the plan's figure)."""
    result, docs = rendered("3090-int4")
    assert result.plan.host is not None and result.plan.host.experts_in_ram > 30
    (container,) = _containers(docs)
    shm = 8
    assert container["resources"]["requests"]["memory"] == (
        f"{math.ceil(result.plan.host.needed + shm)}Gi"
    )


def _nvml_names() -> set[str]:
    """GPU names as real (and hand-made) captures of NVML report them."""
    names = set()
    for capture in FIXTURES.glob("gpus/*/capture.json"):
        data = json.loads(capture.read_text())
        names |= {v for k, v in _walk(data) if k == "name" and str(v).startswith("NVIDIA")}
    return names


def gfd_product(nvml_name: str) -> str:
    """GFD's rule (NVIDIA/k8s-device-plugin internal/lm/resource.go sanitise, v0.20.0)."""
    kept = re.sub(r"[^A-Za-z0-9-_. ]", "", nvml_name)
    return "-".join(kept.split())


def test_gfd_product_values_follow_gfd_rule():
    names = _nvml_names()
    assert "NVIDIA H200" in names  # the real capture
    gpus = catalog.gpus()
    for name in names:
        # token-bounded, as hardware/matching.py matches ("h20" is not in "h200")
        matches = [
            g
            for g in gpus.values()
            if any(
                re.search(rf"(?<![a-z0-9]){re.escape(m)}(?![a-z0-9])", name.lower())
                for m in g.match
            )
        ]
        assert matches, name
        for gpu in matches:
            assert gfd_product(name) in gpu.gfd_products, (name, gpu.key)
    for gpu in gpus.values():
        assert gpu.gfd_products, f"{gpu.key}: no nvidia.com/gpu.product value"
        assert all(len(v) <= 63 for v in gpu.gfd_products)


@pytest.mark.parametrize("variant", VARIANTS)
def test_probes_never_kill_a_loading_server_and_gate_traffic(variant):
    result, docs = rendered(variant)
    stack = result.stack
    compose_start = start_period_s(stack)
    if stack.hardware.nodes == 1:  # the same budget Compose's healthcheck has
        healthcheck = compile_stack(stack).service.healthcheck
        assert healthcheck is not None and healthcheck.start_period_s == compose_start
    engine_ready = {"vllm": "/health", "sglang": "/ready", "llamacpp": "/health"}
    for doc in docs:
        for metadata, spec in _pod_specs(doc):
            (container,) = spec["containers"]
            role = metadata["labels"]["app.kubernetes.io/component"]
            if "startupProbe" not in container:
                # vLLM's headless ranks serve no HTTP: nothing to probe, nothing to kill them
                assert role == "worker" and stack.backend.engine == "vllm"
                assert "livenessProbe" not in container and "ports" not in container
                assert "--headless" in container["args"]
                continue
            startup = container["startupProbe"]
            assert startup["periodSeconds"] * startup["failureThreshold"] >= compose_start
            assert startup["timeoutSeconds"] >= 5
            liveness = container["livenessProbe"]
            assert liveness["periodSeconds"] >= 30 and liveness["failureThreshold"] >= 3
            if role == "server":
                ready = container["readinessProbe"]
                assert ready["httpGet"]["path"] == engine_ready[stack.backend.engine]
            else:
                assert "readinessProbe" not in container  # workers take no traffic


@pytest.mark.parametrize("variant", VARIANTS)
def test_secrets_are_only_references(variant):
    result, docs = rendered(variant)
    options = result.options
    text = render_manifests(result)
    for container in _containers(docs):
        env = {e["name"]: e for e in container["env"]}
        hf = env["HF_TOKEN"]
        assert hf == {
            "name": "HF_TOKEN",
            "valueFrom": {
                "secretKeyRef": {
                    "name": options.hf_token_secret,
                    "key": "HF_TOKEN",
                    "optional": True,
                }
            },
        }
        api_key_env = result.stack.serving.api_key_env
        if api_key_env is None:
            continue
        keyed = [e for e in env.values() if "secretKeyRef" in e.get("valueFrom", {})]
        refs = [e["valueFrom"]["secretKeyRef"] for e in keyed if e["name"] != "HF_TOKEN"]
        assert refs == [{"name": options.api_key_secret, "key": "api-key"}]
        if result.stack.backend.engine == "sglang":  # no env var: $(VAR) in args
            i = container["args"].index("--api-key")
            assert container["args"][i + 1] == f"$({api_key_env})"
    assert "value: $" not in text


def test_no_secret_value_reaches_a_manifest(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_SENTINEL_never_in_files")
    monkeypatch.setenv("LING_API_KEY", "sk-SENTINEL-never-in-files")
    rendered.cache_clear()
    try:
        for variant in VARIANTS:
            text = render_manifests(rendered(variant)[0])
            assert "SENTINEL" not in text
    finally:
        rendered.cache_clear()


@pytest.mark.parametrize("variant", ["vllm 2 nodes", "vllm 2 nodes api key", "sglang 2 nodes"])
def test_multi_node_leader_and_workers(variant):
    result, docs = rendered(variant)
    stack, plan = result.stack, result.plan
    lws, service = docs
    assert (lws["kind"], service["kind"]) == ("LeaderWorkerSet", "Service")
    template = lws["spec"]["leaderWorkerTemplate"]
    assert template["size"] == stack.hardware.nodes == plan.nodes == plan.pipeline_parallel
    assert plan.tensor_parallel == stack.hardware.count // stack.hardware.nodes
    assert lws["spec"]["startupPolicy"] == "LeaderCreated"
    assert template["restartPolicy"] == "RecreateGroupOnPodRestart"
    # a claim per pod: each node loads its own pipeline stage
    (claim,) = template["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    leader = template["leaderTemplate"]["spec"]["containers"][0]
    worker = template["workerTemplate"]["spec"]["containers"][0]
    engine = stack.backend.engine
    rank = {"vllm": "--node-rank", "sglang": "--node-rank"}[engine]
    assert leader["args"][leader["args"].index(rank) + 1] == "0"
    assert worker["args"][worker["args"].index(rank) + 1] == "$(LWS_WORKER_INDEX)"
    address = {"vllm": "--master-addr", "sglang": "--dist-init-addr"}[engine]
    for container in (leader, worker):
        args = container["args"]
        assert args[args.index("--nnodes") + 1] == str(stack.hardware.nodes)
        assert args[args.index(address) + 1].startswith("$(LWS_LEADER_ADDRESS)")
        # the engine's catalogue (its real parser's options) accepts the command as the pod
        # runs it, with the LWS variables at sample values
        linted = check_args(engine, result.description.engine_version, sampled(args))
        assert not linted.errors, [e.message for e in linted.errors]
    if engine == "sglang":  # workers answer /health on --host 0.0.0.0 --port
        assert worker["args"][worker["args"].index("--host") + 1] == "0.0.0.0"
        assert "startupProbe" in worker


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_render_target_kubernetes_stdout_file_and_folder(tmp_path, capsys):
    code, out, err = cli(capsys, "render", "h100-fp8", "--target", "kubernetes")
    assert code == 0
    assert "`python -m ling_compose render h100-fp8 --target kubernetes`" in out
    kinds = [d["kind"] for d in yaml.safe_load_all(out)]
    assert kinds == ["PersistentVolumeClaim", "Deployment", "Service"]
    target = tmp_path / "ling.yaml"
    code, out, err = cli(
        capsys,
        "render",
        "h100-fp8",
        "--target",
        "kubernetes",
        "--replicas",
        "2",
        "--access-mode",
        "ReadWriteMany",
        "-o",
        str(target),
    )
    assert (code, out) == (0, "")
    assert f"wrote {target} (PersistentVolumeClaim, Deployment, Service)" in err
    docs = list(yaml.safe_load_all(target.read_text()))
    assert docs[1]["spec"]["replicas"] == 2
    assert docs[1]["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    assert "render h100-fp8 --replicas 2 --access-mode ReadWriteMany --target kubernetes" in (
        target.read_text()
    )
    folder = tmp_path / "deploy"
    code, _, _ = cli(
        capsys, "render", "h200-fp8", "--target", "kubernetes", "--stack-dir", str(folder)
    )
    assert code == 0
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "kustomization.yaml",
        "ling.yaml",
    ]
    assert yaml.safe_load((folder / "kustomization.yaml").read_text()) == {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["ling.yaml"],
    }
    assert "kubectl create secret generic hf-token" in (folder / "README.md").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--replicas", "3"], "--replicas 3: the replicas share one weights cache"),
        (["--replicas", "2", "--access-mode", "ReadWriteOncePod"], "ReadWriteOncePod volume"),
        (["--service-type", "LoadBalancer"], "--service-type LoadBalancer reaches the server"),
        (["--service-type", "NodePort"], "and the stack has no API key"),
        (["--replicas", "0"], "--replicas: input should be greater than or equal to 1"),
        (["--replicas", "65"], "--replicas: input should be less than or equal to 64"),
        (["--storage-class", "Fast_SSD"], "--storage-class: string should match pattern"),
        (["--api-key-secret", "-x"], "--api-key-secret"),
        (["--nodes", "3"], "--nodes 3: 2 GPUs do not split evenly over 3 nodes"),
        (["--nodes", "4", "--gpus-per-node", "4"], "= 16 GPUs; one server is planned on at most 8"),
        (["--nodes", "2", "--gpus-per-node", "2", "--gpus", "2"], "--gpus 2 disagrees"),
    ],
)
def test_bad_kubernetes_options_exit_2_naming_the_flag(capsys, args, message):
    code, out, err = cli(capsys, "render", "h100-fp8", "--target", "kubernetes", *args)
    assert (code, out) == (2, "")
    assert message in err and "Hint: " in err


@pytest.mark.parametrize(
    ("command", "messages"),
    [
        (
            "4xh100-bf16 --nodes 2 --gpus-per-node 1",  # 97.0 GiB + the MTP layer (BF16: on)
            [
                "cannot start on 2 x NVIDIA H100 80GB SXM over 2 nodes",
                "weights 103.2 GiB per GPU exceed the usable 67.2 GiB",
                "nearest layouts that fit: --nodes 2 --gpus-per-node 2",
            ],
        ),
        (
            "h100-fp8 --nodes 2 --gpus-per-node 1 --tensor-parallel 2 --pipeline-parallel 1",
            ["pipeline parallel 1 does not split over 2 nodes"],
        ),
        (
            "4090-int4 --nodes 2 --gpus-per-node 1",
            ["llama.cpp cannot spread one server over 2 nodes"],
        ),
        # vLLM's tensor-parallel limit for this model holds inside a node too
        ("h100-fp8 --nodes 1 --gpus-per-node 8", ["tensor parallel 1, 2 or 4"]),
    ],
)
def test_impossible_multi_node_layouts_are_refused_with_the_arithmetic(capsys, command, messages):
    code, out, err = cli(capsys, "render", *command.split(), "--target", "kubernetes")
    assert (code, out) == (1, "")
    for message in messages:
        assert message in err


def test_the_suggested_multi_node_layout_fits():
    stack = load_stack("4xh100-bf16", Overrides(nodes=2, gpus_per_node=2))
    assert kubernetes_stack(stack).plan.fits


@pytest.mark.parametrize("command", ["render", "show", "validate"])
def test_compose_commands_refuse_kubernetes_options(capsys, command):
    code, _, err = cli(capsys, command, "h100-fp8", "--replicas", "2")
    assert code == 2 and "--replicas is an option of the Kubernetes target" in err


def test_a_multi_node_stack_has_no_compose_form():
    stack = load_stack("h100-fp8", Overrides(nodes=2, gpus_per_node=2))
    with pytest.raises(ConfigError, match="spans 2 nodes; a Compose file runs on one host"):
        compile_stack(stack)


def test_plan_replicas_sums_the_fleet(capsys):
    code, out, _ = cli(capsys, "plan", "h100-fp8", "--json")
    one = json.loads(out)
    code, out, _ = cli(capsys, "plan", "h100-fp8", "--replicas", "3", "--json")
    three = json.loads(out)
    assert code == 0
    fleet = three["fleet"]
    assert fleet["gpus"] == 3 * one["gpus"] == 6
    assert fleet["running_sequences"] == 3 * one["concurrency"]
    assert fleet["kv_pool_tokens"] == 3 * one["kv_pool_tokens"]
    assert fleet["aggregate_tok_s"] == pytest.approx(3 * one["throughput"]["aggregate_tok_s"])
    code, out, _ = cli(capsys, "plan", "h100-fp8", "--replicas", "3")
    assert "fleet: 3 replicas x 2 GPU(s) = 6 GPUs" in out
    code, out, _ = cli(capsys, "plan", "4xh20-bf16", "--nodes", "2", "--gpus-per-node", "4")
    assert "over 2 nodes of 4 GPUs" in out and "tensor parallel 4 x pipeline 2" in out


def test_render_kubernetes_from_python():
    import ling_compose as lc

    text = lc.render_kubernetes("h200-fp8", lc.Overrides(replicas=1))
    assert [d["kind"] for d in yaml.safe_load_all(text)][1] == "Deployment"
    stack = lc.load_stack("4xh20-bf16", lc.Overrides(nodes=2, gpus_per_node=4))
    result = lc.kubernetes_stack(stack, lc.KubernetesOptions(replicas=2))
    assert result.kinds == ["LeaderWorkerSet", "Service"]
    assert result.objects[0]["spec"]["replicas"] == 2


@pytest.mark.parametrize("profile", catalog.builtin_profiles())
def test_golden_manifests_validate_as_committed(profile):
    """stacks/<profile>/kubernetes/ as `make stacks` wrote them (test_generated holds them to
    the renderer): what a user applies from the repository validates too."""
    folder = Path(__file__).resolve().parents[2] / "stacks" / profile / "kubernetes"
    docs = list(yaml.safe_load_all((folder / "ling.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["PersistentVolumeClaim", "Deployment", "Service"]
    for doc in docs:
        validate(doc)
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["ling.yaml"]


def test_flagcat_reads_the_commands_pods_run(tmp_path):
    """`make verify-flags` feeds the real parsers what each pod's container runs: leader and
    worker arguments with LWS's variables and secrets expanded as the kubelet would."""
    from tools.flagcat.stackfiles import SECRET_SAMPLE, commands

    path = tmp_path / "ling.yaml"
    path.write_text(render_manifests(rendered("sglang api key lb")[0]))
    multi = tmp_path / "lws.yaml"
    multi.write_text(render_manifests(rendered("vllm 2 nodes api key")[0]))
    found = commands([path, multi])
    assert [(c.backend, c.where.rsplit(":", 1)[1]) for c in found] == [
        ("sglang", "Deployment/server"),
        ("vllm", "LeaderWorkerSet/server"),
        ("vllm", "LeaderWorkerSet/worker"),
    ]
    sglang, leader, worker = found
    assert sglang.args[sglang.args.index("--api-key") + 1] == SECRET_SAMPLE
    assert leader.args[-2:] == ["--node-rank", "0"]
    assert worker.args[-3:] == ["--node-rank", "1", "--headless"]
    assert not any("$(" in a for c in found for a in c.args)


def test_a_profile_can_declare_nodes(tmp_path, capsys):
    """hardware.nodes in a profiles file is the same layout as --nodes on the command line."""
    profiles = tmp_path / "profiles.yml"
    profiles.write_text(
        "profiles:\n"
        "  l40s-pp:\n"
        "    description: FP8 over two nodes of four L40S\n"
        "    hardware: {gpu: l40s, count: 8, nodes: 2}\n"
        "    checkpoint: ling-2.6-flash-fp8\n"
        "    backend: {engine: sglang, tensor_parallel: 4, pipeline_parallel: 2}\n"
    )
    code, out, err = cli(
        capsys, "render", "l40s-pp", "--profiles-file", str(profiles), "--target", "kubernetes"
    )
    assert code == 0, err
    lws = next(yaml.safe_load_all(out))
    assert lws["kind"] == "LeaderWorkerSet"
    assert lws["spec"]["leaderWorkerTemplate"]["size"] == 2
    validate(lws)
    code, _, err = cli(capsys, "render", "l40s-pp", "--profiles-file", str(profiles))
    assert code == 1 and "spans 2 nodes; a Compose file runs on one host" in err


def test_extra_args_cannot_undo_the_multi_node_flags(capsys):
    command = "render h100-fp8 --target kubernetes --nodes 2 --gpus-per-node 2"
    code, _, err = cli(capsys, *command.split(), "--extra-arg=--nnodes=3")
    assert code == 1 and "extra arguments repeat options ling_compose already sets" in err
    assert "--nnodes" in err


def test_a_name_too_long_for_kubernetes_is_refused(tmp_path, capsys):
    name = "a" * 50  # ling-<name> would exceed what a StatefulSet's pods may carry
    profiles = tmp_path / "profiles.yml"
    profiles.write_text(
        f"profiles:\n  {name}:\n    description: long\n"
        "    hardware: {gpu: h200, count: 1}\n"
        "    checkpoint: ling-2.6-flash-fp8\n    backend: {engine: vllm}\n"
    )
    code, out, err = cli(
        capsys, "render", name, "--profiles-file", str(profiles), "--target", "kubernetes"
    )
    assert (code, out) == (1, "")
    assert "must stay within 49" in err and "Hint: use a profile name of at most 44" in err
    code, out, _ = cli(capsys, "render", name, "--profiles-file", str(profiles))
    assert code == 0  # Compose takes it


def test_profile_names_kubernetes_would_refuse_are_made_valid(tmp_path, capsys):
    profiles = tmp_path / "profiles.yml"
    profiles.write_text(
        "profiles:\n  my__stack_:\n    description: underscores\n"
        "    hardware: {gpu: h200, count: 1}\n"
        "    checkpoint: ling-2.6-flash-fp8\n    backend: {engine: vllm}\n"
    )
    code, out, err = cli(
        capsys, "render", "my__stack_", "--profiles-file", str(profiles), "--target", "kubernetes"
    )
    assert code == 0, err
    docs = list(yaml.safe_load_all(out))
    assert {d["metadata"]["name"] for d in docs} == {"ling-my-stack", "ling-my-stack-cache"}
    assert docs[1]["metadata"]["labels"]["ling-compose/profile"] == "my__stack"
    for doc in docs:
        validate(doc)
        assert all(LABEL_VALUE.fullmatch(v) for v in doc["metadata"]["labels"].values())


def test_monitoring_is_a_compose_option_and_is_refused_for_kubernetes(capsys):
    code, out, err = cli(
        capsys, "render", "h200-fp8", "--target", "kubernetes", "--with-monitoring"
    )
    assert code == 1 and out == ""
    assert "--with-monitoring adds Prometheus and Grafana services to a compose file" in err
    assert "Hint: leave it out, and scrape the Service's port" in err
    # The same stack renders for Kubernetes without it, and the server's metrics flag stays.
    rendered = kubernetes_stack(load_stack("h200-bf16"))
    assert "--enable-metrics" in render_manifests(rendered)
