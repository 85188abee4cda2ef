"""ServerDescription -> Kubernetes objects, as data (pure): a Deployment, or a LeaderWorkerSet
when one server spans nodes; a Service in front of the serving pods; the weights cache's claim.

Every figure is the description's (describe.py); here it takes Kubernetes' form. Sources of the
Kubernetes and LWS facts relied on are named where they are used; docs/kubernetes.md explains
the design (why Recreate, why per-pod claims under LWS, what the probes guarantee).
"""

from __future__ import annotations

import math
import re
import textwrap
from typing import Any, NamedTuple

from ling_compose.describe import HF_TOKEN, describe
from ling_compose.errors import ConfigError, UsageError
from ling_compose.models.kubernetes import (
    API_KEY_KEY,
    HF_TOKEN_KEY,
    KubernetesOptions,
)
from ling_compose.models.overrides import FLAG_OF_FIELD
from ling_compose.models.plan import Plan
from ling_compose.models.server import (
    Health,
    Rendezvous,
    SecretRef,
    Server,
    ServerDescription,
    Value,
)
from ling_compose.models.stack import Stack

Manifest = dict[str, Any]

# The pinned LeaderWorkerSet release the LWS objects are validated against (its CRD is
# vendored under tests/fixtures/lws/ with its commit and sha256).
LWS_API_VERSION = "leaderworkerset.x-k8s.io/v1"
LWS_VERSION = "v0.10.0"
# What LWS puts in every container of a group (api/leaderworkerset/v1/leaderworkerset_types.go
# and pkg/utils/pod/pod_utils.go AddLWSVariables, v0.10.0): the leader's address
# <lws>-<group>.<lws>.<namespace>, and the pod's index in its group, "0" on the leader. The
# kubelet expands $(VAR) in args from the container's environment (core/v1 Container.args).
LWS_RENDEZVOUS = Rendezvous(
    leader_address="$(LWS_LEADER_ADDRESS)",
    rank="$(LWS_WORKER_INDEX)",
    samples={"$(LWS_LEADER_ADDRESS)": "ling-0.ling.default", "$(LWS_WORKER_INDEX)": "1"},
)
LWS_NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
LWS_WORKER_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"  # "0": the leader

# The device plugin's resource and the taint GPU nodes usually carry (NVIDIA/k8s-device-plugin
# README and deployments/static/nvidia-device-plugin.yml, v0.20.0), and GFD's product label.
GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_TOLERATION = {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}

LABEL_PREFIX = "ling-compose/"  # ling_compose's own labels and annotations
HTTP_PORT_NAME = "http"
CACHE_VOLUME = "cache"
SHM_VOLUME = "dshm"
# Object names: RFC 1123 labels. A StatefulSet's pods carry the label controller-revision-hash
# = <StatefulSet name>-<10 characters>, at most 63, and LWS names its workers' StatefulSets
# <name>-<group index> (up to 2 digits for 64 replicas): hence 49 for the name.
MAX_NAME = 49
# Probes. The startup probe holds the others off until it succeeds once (core/v1 Container
# startupProbe); its budget, period x failureThreshold, is the same start-up grace as
# Compose's start_period (describe.start_period_s): first download, load, compile.
STARTUP_PERIOD_S = 10
READY_FAILURES = 3  # out of the Service's endpoints after 3 failed probes; restarts nothing
LIVENESS_PERIOD_S = 30  # gentle: restarts a server that stopped answering for 5 minutes
# What `render` needs besides the stack's own flags (the Kubernetes options are overrides, in
# the stack's origin) to reproduce these manifests.
RENDER_ARGS = ("--target", "kubernetes")
# The access modes one volume shared by pods on several nodes cannot have.
SINGLE_NODE_MODES = ("ReadWriteOnce", "ReadWriteOncePod")


class Rendered(NamedTuple):
    """What the Kubernetes target produces: the objects, the header lines, and warnings."""

    stack: Stack
    plan: Plan
    description: ServerDescription
    options: KubernetesOptions
    objects: list[Manifest]
    header: list[str]
    warnings: list[str]

    @property
    def kinds(self) -> list[str]:
        return [str(o["kind"]) for o in self.objects]


def pod_templates(obj: Manifest) -> list[Manifest]:
    """The pod templates of a rendered object ({metadata, spec}): a Deployment's one, a
    LeaderWorkerSet's leader and worker templates; none for other kinds."""
    if obj.get("kind") == "Deployment":
        return [obj["spec"]["template"]]
    if obj.get("kind") == "LeaderWorkerSet":
        lwt = obj["spec"]["leaderWorkerTemplate"]
        return [lwt["leaderTemplate"], lwt["workerTemplate"]]
    return []


def object_name(description: ServerDescription) -> str:
    """The stack's name as a Kubernetes object name: profile names may hold '_'."""
    name = re.sub(r"-+", "-", description.name.replace("_", "-")).strip("-")
    if len(name) > MAX_NAME:
        raise ConfigError(
            f"{name}: {len(name)} characters; Kubernetes names derived from it must stay "
            f"within {MAX_NAME}",
            hint=f"use a profile name of at most {MAX_NAME - len('ling-')} characters",
        )
    return name


def quantity_gib(gib: float) -> str:
    """A memory or storage quantity in whole GiB, rounded up."""
    return f"{max(1, math.ceil(gib - 1e-9))}Gi"


def label_value(text: str) -> str:
    """Text as a label value: at most 63 of [A-Za-z0-9-_.], alphanumeric at both ends (a
    profile name may end in '-' or '_')."""
    kept = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", kept)


def _labels(description: ServerDescription, name: str, role: str) -> dict[str, str]:
    """Kubernetes' recommended labels, plus ling_compose's own."""
    return {
        "app.kubernetes.io/name": description.engine,
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/version": label_value(description.engine_version),
        "app.kubernetes.io/component": role,
        "app.kubernetes.io/part-of": "ling-compose",
        "app.kubernetes.io/managed-by": "ling_compose",
        LABEL_PREFIX + "profile": label_value(description.profile),
    }


def _selector(name: str, role: str) -> dict[str, str]:
    return {"app.kubernetes.io/instance": name, "app.kubernetes.io/component": role}


def _annotations(description: ServerDescription) -> dict[str, str]:
    return {
        LABEL_PREFIX + "generator": description.generator,
        LABEL_PREFIX + "served-model-name": description.served_model_name,
    }


def _secret(ref: SecretRef, options: KubernetesOptions) -> dict[str, Any]:
    """The Secret and key a secret reference reads: HF_TOKEN, or the API key."""
    selector: dict[str, str | bool]
    if ref.variable == HF_TOKEN.variable:
        selector = {"name": options.hf_token_secret, "key": HF_TOKEN_KEY}
    else:
        selector = {"name": options.api_key_secret, "key": API_KEY_KEY}
    if not ref.required:
        selector["optional"] = True
    return {"secretKeyRef": selector}


def _env_and_args(
    server: Server, options: KubernetesOptions
) -> tuple[list[dict[str, Any]], list[str]]:
    """The environment (secrets as secretKeyRefs, never values) and the arguments (a secret
    argument as $(VAR) of a secret-backed variable, which the kubelet expands)."""
    env: list[dict[str, Any]] = []
    for key, value in server.env.items():
        if isinstance(value, SecretRef):
            env.append({"name": key, "valueFrom": _secret(value, options)})
        else:
            env.append({"name": key, "value": value})
    args: list[str] = []
    for arg in server.args:
        args.append(_arg(arg, env, options))
    return env, args


def _arg(arg: Value, env: list[dict[str, Any]], options: KubernetesOptions) -> str:
    if isinstance(arg, str):
        return arg
    if all(e["name"] != arg.variable for e in env):
        env.append({"name": arg.variable, "valueFrom": _secret(arg, options)})
    return f"$({arg.variable})"


def _probe(path: str, period_s: int, timeout_s: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": HTTP_PORT_NAME},
        "periodSeconds": period_s,
        "timeoutSeconds": timeout_s,
        "failureThreshold": failures,
    }


def startup_failures(health: Health) -> int:
    """Startup probes in a row that may fail: together they last the start-up grace."""
    return math.ceil(health.start_period_s / STARTUP_PERIOD_S)


def _probes(health: Health, serves_traffic: bool) -> dict[str, Any]:
    """Startup with the start-up grace, then a gentle liveness; readiness where the pod takes
    traffic, on the path that says the model is served."""
    unhealthy_after = health.failures * health.interval_s  # Compose's retries x interval
    probes = {
        "startupProbe": _probe(
            health.path, STARTUP_PERIOD_S, health.timeout_s, startup_failures(health)
        ),
        "livenessProbe": _probe(
            health.path,
            LIVENESS_PERIOD_S,
            health.timeout_s,
            math.ceil(unhealthy_after / LIVENESS_PERIOD_S),
        ),
    }
    if serves_traffic:
        probes["readinessProbe"] = _probe(
            health.ready_path or health.path, health.interval_s, health.timeout_s, READY_FAILURES
        )
    return probes


def _container(server: Server, options: KubernetesOptions, serves_traffic: bool) -> Manifest:
    env, args = _env_and_args(server, options)
    gpus = str(server.gpus)
    shm_gib = server.shared_memory.isolated_size_gib
    memory = server.memory
    needed = (memory.needed_gib if memory is not None else 0.0) + shm_gib
    # /dev/shm in memory counts against the container's memory limit (core/v1
    # EmptyDirVolumeSource.sizeLimit), so the limit holds it besides the process.
    limit = max(needed, memory.limit_gib if memory is not None else needed)
    container: Manifest = {"name": server.role, "image": server.image}
    container["imagePullPolicy"] = "IfNotPresent"
    if server.entrypoint is not None:
        container["command"] = list(server.entrypoint)  # replaces the image's ENTRYPOINT
    container["args"] = args  # replaces its CMD
    container["env"] = env
    health = server.health
    port = server.port.container if server.port is not None else None
    port = port if port is not None else (health.port if health is not None else None)
    if port is not None:
        container["ports"] = [{"name": HTTP_PORT_NAME, "containerPort": port, "protocol": "TCP"}]
    # GPUs only in limits, or equal in both (kubernetes.io "Schedule GPUs").
    container["resources"] = {
        "limits": {GPU_RESOURCE: gpus, "memory": quantity_gib(limit)},
        "requests": {GPU_RESOURCE: gpus, "memory": quantity_gib(needed)},
    }
    mounts = [{"name": SHM_VOLUME, "mountPath": "/dev/shm"}]
    if server.cache is not None:
        mounts.insert(0, {"name": CACHE_VOLUME, "mountPath": server.cache.target})
    container["volumeMounts"] = mounts
    if health is not None:
        container.update(_probes(health, serves_traffic))
    return container


def _pod_spec(
    description: ServerDescription,
    server: Server,
    options: KubernetesOptions,
    *,
    claim: str | None,
    serves_traffic: bool,
) -> Manifest:
    """One pod: the container, GPU scheduling, /dev/shm and the cache (a claim of its own
    under LWS, where `claim` is None and the StatefulSet adds the volume)."""
    volumes: list[Manifest] = [
        {
            "name": SHM_VOLUME,
            "emptyDir": {
                "medium": "Memory",
                "sizeLimit": quantity_gib(server.shared_memory.isolated_size_gib),
            },
        }
    ]
    if claim is not None:
        volumes.insert(0, {"name": CACHE_VOLUME, "persistentVolumeClaim": {"claimName": claim}})
    spec: Manifest = {
        # Service variables (NAME_PORT=tcp://...) would reach the engine's own VLLM_*/SGLANG_*
        # settings if a Service were named after it; the server needs none of them.
        "enableServiceLinks": False,
        "containers": [_container(server, options, serves_traffic)],
        "tolerations": [dict(GPU_TOLERATION)],
        "volumes": volumes,
    }
    if description.gpu_products:
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": GPU_PRODUCT_LABEL,
                                    "operator": "In",
                                    "values": list(description.gpu_products),
                                }
                            ]
                        }
                    ]
                }
            }
        }
    return spec


def _pod_template(
    description: ServerDescription,
    name: str,
    server: Server,
    options: KubernetesOptions,
    *,
    claim: str | None,
    serves_traffic: bool,
) -> Manifest:
    """A pod template: the server's labels and annotations, and its pod spec."""
    return {
        "metadata": {
            "labels": _labels(description, name, server.role),
            "annotations": _annotations(description),
        },
        "spec": _pod_spec(description, server, options, claim=claim, serves_traffic=serves_traffic),
    }


def _claim_spec(server: Server, options: KubernetesOptions, mode: str) -> Manifest:
    assert server.cache is not None
    spec: Manifest = {
        "accessModes": [mode],
        "resources": {"requests": {"storage": quantity_gib(server.cache.size_gib)}},
    }
    if options.storage_class is not None:
        spec["storageClassName"] = options.storage_class
    return spec


def _metadata(
    description: ServerDescription, instance: str, role: str, name: str | None = None
) -> Manifest:
    return {
        "name": name or instance,
        "labels": _labels(description, instance, role),
        "annotations": _annotations(description),
    }


def _service(
    description: ServerDescription, name: str, options: KubernetesOptions, selector: dict[str, str]
) -> Manifest:
    primary = description.primary
    assert primary.port is not None
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(description, name, primary.role),
        "spec": {
            "type": options.service_type,
            "selector": selector,
            "ports": [
                {
                    "name": HTTP_PORT_NAME,
                    "port": primary.port.host,
                    "targetPort": HTTP_PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }


def _deployment_objects(
    description: ServerDescription, name: str, options: KubernetesOptions
) -> list[Manifest]:
    server = description.primary
    mode = options.access_mode or "ReadWriteOnce"
    if options.replicas > 1 and mode in SINGLE_NODE_MODES:
        raise UsageError(
            f"{FLAG_OF_FIELD['replicas']} {options.replicas}: the replicas share one weights "
            f"cache, and a {mode} volume mounts on one node only (the other pods would never "
            "start)",
            hint=f"add {FLAG_OF_FIELD['access_mode']} ReadWriteMany with a "
            f"{FLAG_OF_FIELD['storage_class']} that provides it (NFS, CephFS, a cloud file "
            "store), or render one replica per stack",
        )
    claim = f"{name}-cache"
    role = server.role
    objects: list[Manifest] = []
    if server.cache is not None:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": _metadata(description, name, "weights-cache", claim),
                "spec": _claim_spec(server, options, mode),
            }
        )
    health = server.health
    start_s = health.start_period_s if health is not None else 0
    # A one-node volume cannot be mounted by the next pod before the old one lets go, and a
    # surge pod would need GPUs of its own: replace pods, never add one first.
    strategy: Manifest = (
        {"type": "Recreate"}
        if mode in SINGLE_NODE_MODES
        else {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    )
    objects.append(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _metadata(description, name, role),
            "spec": {
                "replicas": options.replicas,
                "selector": {"matchLabels": _selector(name, role)},
                "strategy": strategy,
                # A rollout that has not progressed in this long is reported failed: the
                # start-up grace plus 10 minutes, not the 600 s default.
                "progressDeadlineSeconds": start_s + 600,
                "template": _pod_template(
                    description,
                    name,
                    server,
                    options,
                    claim=claim if server.cache is not None else None,
                    serves_traffic=True,
                ),
            },
        }
    )
    objects.append(_service(description, name, options, _selector(name, role)))
    return objects


def _lws_objects(
    description: ServerDescription, name: str, options: KubernetesOptions
) -> list[Manifest]:
    """One group per replica: the leader (rank 0, serves HTTP) and nodes - 1 workers. Each pod
    loads its own pipeline stage, so each has a claim of its own (volumeClaimTemplates, added
    to both StatefulSets: pkg/controllers/leaderworkerset_controller.go and pod_controller.go,
    v0.10.0): a one-node volume works, and nothing is shared across nodes."""
    leader, worker = description.servers[0], description.servers[1]
    mode = options.access_mode or "ReadWriteOnce"
    template: Manifest = {
        "size": description.nodes,
        # A torch.distributed group does not survive one member restarting: restart the group.
        "restartPolicy": "RecreateGroupOnPodRestart",
        "leaderTemplate": _pod_template(
            description, name, leader, options, claim=None, serves_traffic=True
        ),
        "workerTemplate": _pod_template(
            description, name, worker, options, claim=None, serves_traffic=False
        ),
    }
    if leader.cache is not None:
        template["volumeClaimTemplates"] = [
            {"metadata": {"name": CACHE_VOLUME}, "spec": _claim_spec(leader, options, mode)}
        ]
    lws: Manifest = {
        "apiVersion": LWS_API_VERSION,
        "kind": "LeaderWorkerSet",
        "metadata": _metadata(description, name, leader.role),
        "spec": {
            "replicas": options.replicas,
            # The leader is only ready once every worker has joined: with LeaderReady the
            # workers would wait for it, and the group for ever.
            "startupPolicy": "LeaderCreated",
            "leaderWorkerTemplate": template,
        },
    }
    selector = {LWS_NAME_LABEL: name, LWS_WORKER_INDEX_LABEL: "0"}
    return [lws, _service(description, name, options, selector)]


def _refuse(description: ServerDescription, options: KubernetesOptions) -> None:
    """What a cluster cannot run as described, or must not."""
    if options.service_type != "ClusterIP" and not description.api_key:
        raise UsageError(
            f"{FLAG_OF_FIELD['service_type']} {options.service_type} reaches the server from "
            "outside the cluster, and the stack has no API key",
            hint=f"add {FLAG_OF_FIELD['api_key_env']} VAR (the key then comes from the Secret "
            f"{options.api_key_secret}), or keep the default ClusterIP",
        )
    for server in description.servers:
        if server.mounts:
            raise ConfigError(
                f"the stack mounts {server.mounts[0].source} from this host; a pod runs on a "
                "cluster node, which does not have it",
                hint="serve the checkpoint from the hub (leave out --model-file)",
            )


def secret_commands(description: ServerDescription, options: KubernetesOptions) -> list[str]:
    """The `kubectl create secret` lines of the Secrets the objects reference: HF_TOKEN's
    (optional, the first), then the API key's when the stack has one."""
    commands = [
        f"kubectl create secret generic {options.hf_token_secret} "
        f'--from-literal={HF_TOKEN_KEY}="$HF_TOKEN"'
    ]
    if description.api_key:
        commands.append(
            f"kubectl create secret generic {options.api_key_secret} "
            f'--from-literal={API_KEY_KEY}="$(openssl rand -hex 32)"'
        )
    return commands


def _header(description: ServerDescription, options: KubernetesOptions, name: str) -> list[str]:
    server = description.primary
    lines = [*description.notes]
    if server.build is not None:
        lines += textwrap.wrap(
            f"The image {server.image} is built, not pulled (`docker compose build` of this "
            "profile's Compose file): push it to a registry the cluster's nodes pull from and "
            "render again with --image REGISTRY/NAME:TAG.",
            width=96,
            break_on_hyphens=False,
        )
    hf_token, *api_key = secret_commands(description, options)
    secret_lines = [f"{hf_token} (optional)", *api_key]
    lines += textwrap.wrap(
        "Secrets are references to Secrets you create, never values in this file: "
        + "; ".join(secret_lines)
        + ".",
        width=96,
        break_on_hyphens=False,
        break_long_words=False,
    )
    if description.nodes > 1:
        lines.append(
            f"Needs LeaderWorkerSet ({LWS_VERSION}) installed in the cluster; each replica is "
            f"{description.nodes} pods on {description.nodes} nodes, reached through the "
            f"Service {name} (the leader)."
        )
    return lines


def manifests(description: ServerDescription, options: KubernetesOptions) -> list[Manifest]:
    """The objects of a description (pure)."""
    _refuse(description, options)
    name = object_name(description)
    if description.nodes > 1:
        return _lws_objects(description, name, options)
    return _deployment_objects(description, name, options)


def kubernetes_stack(stack: Stack, options: KubernetesOptions | None = None) -> Rendered:
    """Fit check, server description (multi-node through LWS), Kubernetes objects."""
    options = options or KubernetesOptions()
    if stack.serving.monitoring:
        # Its services are Compose's: on a cluster, Prometheus and Grafana are the cluster's.
        raise ConfigError(
            f"{stack.name}: --with-monitoring adds Prometheus and Grafana services to a compose "
            "file; the Kubernetes target does not render them",
            hint="leave it out, and scrape the Service's port from the cluster's Prometheus "
            "(e.g. a ServiceMonitor; docs/kubernetes.md)",
        )
    described = describe(stack, LWS_RENDEZVOUS, RENDER_ARGS)
    description = described.description
    objects = manifests(description, options)
    return Rendered(
        stack=stack,
        plan=described.plan,
        description=description,
        options=options,
        objects=objects,
        header=_header(description, options, object_name(description)),
        warnings=described.warnings,
    )
