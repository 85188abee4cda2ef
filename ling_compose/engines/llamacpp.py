"""llama.cpp server built from the fork that runs bailing_hybrid (upstream cannot load it).

The image is built by Compose from the fork's git context at a pinned commit with the fork's
.devops/cuda.Dockerfile (upstream's of its base, b9049; target `server`: ENTRYPOINT
/app/llama-server, port 8080). Flags are linted against the catalogue generated from the fork's
own common/arg.cpp at that commit (flags/catalogs/llamacpp-b9049-lj-70bfa23.json).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from ling_compose.engines import base
from ling_compose.errors import ConfigError
from ling_compose.flags import lint
from ling_compose.flags.parsers import TOOL_CALL_FORMAT
from ling_compose.hardware.cuda import min_driver_for_cuda
from ling_compose.models.hardware import GIB
from ling_compose.models.options import EngineOptions, LocalPath
from ling_compose.models.plan import CacheDemand, Capacity
from ling_compose.models.server import ImageBuild, Mount, Value
from ling_compose.models.stack import MAX_CONTEXT_NATIVE
from ling_compose.monitoring import dashboard as dash
from ling_compose.monitoring.metrics import EngineMetrics, Metric

if TYPE_CHECKING:
    from ling_compose.models.plan import Plan
    from ling_compose.models.stack import Stack

PINNED_VERSION = "b11434"  # upstream release whose catalogue checks upstream llama.cpp images
PORT = 8080
API_KEY_ENV = "LLAMA_API_KEY"
MODEL_DIR = "/models"  # where a local --model-file is mounted in the container
UPSTREAM_IMAGES = ("ghcr.io/ggml-org/llama.cpp", "ghcr.io/ggerganov/llama.cpp")

# The fork. Its branch LJ-Ling-2.6-flash-r2 moves; a commit builds the same code every time.
# 70bfa23 is the newest commit of that branch in the sources checked (its README.md, which
# names the base "2496f9c14, tag b9049" and supersedes the older LJ-Ling-2.6-flash branch);
# common/arg.cpp there is as of bb8a3a2 (b9049's options plus `--spec-type mtp`).
FORK_GIT_URL = "https://github.com/ljubomirj/llama.cpp.git"
FORK_COMMIT = "70bfa23da9cb90e88656c3f32fb5e2ecd9a541e8"
FORK_BRANCH = "LJ-Ling-2.6-flash-r2"
FORK_BASE = "b9049"
FORK_VERSION = f"{FORK_BASE}-lj-{FORK_COMMIT[:7]}"  # also names its flag catalogue
# A local name under `localhost/`: no registry namespace that someone else could register
# (Docker Hub's `ling-compose/...`) can stand in for it; pull_policy: build never pulls it.
FORK_IMAGE = "localhost/ling-compose/llama-server-fork"

# Build args of the fork's .devops/cuda.Dockerfile (ARGs UBUNTU_VERSION=24.04,
# CUDA_VERSION=12.8.1, CUDA_DOCKER_ARCH=default; base nvidia/cuda:${CUDA_VERSION}-devel-
# ubuntu${UBUNTU_VERSION}, gcc-14 as CUDA host compiler). CUDA 12.9.1: its -devel- and -runtime-
# ubuntu24.04 tags are in NVIDIA's supported-tags list (doc/supported-tags.md of
# gitlab.com/nvidia/container-images/cuda) and its nvcc accepts gcc 14 (crt/host_config.h of
# nvidia-cuda-nvcc-cu12 12.9.86: error only for __GNUC__ > 14). tests/fixtures/llamacpp-fork/
# holds those facts with their sources; a test checks these args against them.
UBUNTU_VERSION = "24.04"
CUDA_VERSION = "12.9.1"
DOCKERFILE = ".devops/cuda.Dockerfile"
TARGET = "server"


GPU_FRACTION = 0.90  # planning headroom for the CUDA context and fragmentation


class LlamaCppOptions(EngineOptions):
    engine: Literal["llamacpp"] = "llamacpp"
    fork_git_url: str | None = Field(
        default=None,
        description="Git URL of the llama.cpp fork to build (upstream cannot load "
        "bailing_hybrid); default: github.com/ljubomirj/llama.cpp",
    )
    fork_ref: str | None = Field(
        default=None,
        description="Commit (full 40-character hash), tag or branch to build; default: the "
        "commit ling_compose pins",
    )
    cuda_version: str | None = Field(
        default=None,
        description="CUDA_VERSION build arg: an nvidia/cuda -devel-ubuntu24.04 tag whose nvcc "
        "accepts gcc 14 (12.8 or newer); default: the pinned 12.9.1 (host driver >= 575)",
    )
    cuda_arch: str | None = Field(
        default=None, description="e.g. 89 for RTX 4090; default: from the GPU"
    )
    n_cpu_moe: int | None = Field(
        default=None,
        ge=0,
        le=31,
        description="MoE layers whose routed experts stay in host RAM; default: planned to fit",
    )
    flash_attn: Literal["on", "off", "auto"] = "auto"
    model_file: LocalPath | None = Field(
        default=None,
        description="A local GGUF file to serve instead of downloading the checkpoint (mounted "
        "read-only; a relative path is taken from the current directory). The stack then serves "
        "that file, not Ling-2.6-flash; with it, an upstream llama.cpp image is allowed",
    )


# What llama-server logs about its memory at start-up, at b11434:
#   src/llama-context.cpp:312          "llama_context: n_ctx_seq             = %u"
#   src/llama-kv-cache.cpp:291         "llama_kv_cache: %10s KV buffer size = %8.2f MiB"
#   src/llama-memory-recurrent.cpp:124 "llama_memory_recurrent: %10s RS buffer size = %8.2f MiB"
#   src/llama-model.cpp:1926           "load_tensors: offloaded %d/%d layers to GPU"
#   src/llama-model.cpp:1932           "load_tensors: %12s model buffer size = %8.2f MiB"
_CTX_SEQ = r"llama_context: n_ctx_seq\s+= (\d+)"
_BUFFER = (
    r"(llama_kv_cache|llama_memory_recurrent): +(\S+) (KV|RS) buffer size = +"
    + base.LOG_NUMBER
    + " MiB"
)
_MODEL = r"load_tensors: +(\S+) model buffer size = +" + base.LOG_NUMBER + " MiB"
_OFFLOADED = r"load_tensors: offloaded (\d+)/(\d+) layers to GPU"
MIB_PER_GIB = 1024.0


def _is_host_buffer(name: str) -> bool:
    return name.upper().startswith("CPU")  # CPU, CPU_Mapped, CPU_REPACK; GPUs are CUDA0, ...


def _cuda_arch(stack: Stack, backend: LlamaCppOptions) -> str:
    if backend.cuda_arch:
        return backend.cuda_arch
    major, minor = stack.hardware.gpu.capability
    return f"{major}{minor}"  # one architecture: a much shorter build than all of them


def _image_tag(ref: str | None) -> str:
    if ref is None or ref == FORK_COMMIT:
        return FORK_VERSION
    return "ref-" + re.sub(r"[^A-Za-z0-9_.-]", "-", ref)[:100]


def _fork_build(stack: Stack, backend: LlamaCppOptions) -> tuple[ImageBuild, list[str]]:
    """The Compose build of the fork at its pinned commit, and the header lines that say so."""
    url = backend.fork_git_url or FORK_GIT_URL
    ref = backend.fork_ref or FORK_COMMIT
    cuda = backend.cuda_version or CUDA_VERSION
    build = ImageBuild(
        context=f"{url}#{ref}",  # a commit must be the full 40-character hash (Docker docs)
        dockerfile=DOCKERFILE,
        target=TARGET,
        args={
            "UBUNTU_VERSION": UBUNTU_VERSION,
            "CUDA_VERSION": cuda,
            "CUDA_DOCKER_ARCH": _cuda_arch(stack, backend),
        },
    )
    which = (
        f"commit {FORK_COMMIT} (head of branch {FORK_BRANCH}, based on upstream {FORK_BASE}; "
        "a branch moves, a commit builds the same code every time)"
        if ref == FORK_COMMIT
        else f"ref {ref} (flags checked against {FORK_VERSION}'s options)"
    )
    driver = min_driver_for_cuda(cuda)
    text = (
        f"Built from the llama.cpp fork {url.removesuffix('.git')} at {which}: the stock "
        "ghcr.io/ggml-org/llama.cpp:server-cuda image cannot load this architecture. "
        f"The image is built here ({DOCKERFILE}, target {TARGET}, CUDA {cuda} on Ubuntu "
        f"{UBUNTU_VERSION}), never pulled; CUDA {cuda} needs NVIDIA driver "
        + (f">= {driver} on the host." if driver else "for that CUDA on the host.")
    )
    return build, textwrap.wrap(text, width=96, break_on_hyphens=False)


# -- what /metrics writes at this version, and the Grafana panels that read it ------------

# llama.cpp: no histograms and no labels; no KV-cache metric at either version
# (`kv_cache_usage_ratio` is only named by the stale tools/server/bench/bench.py L119 of b11434).
_LC = "tools/server/server-task.cpp"
_LLAMA_ENDPOINT = (
    "--metrics: tools/server/server-context.cpp L5025-5026 of b11434 answers 501 'This server "
    "does not support metrics endpoint. Start it with `--metrics`' without it; with --api-key, "
    "tools/server/server-http.cpp L251-257 leaves only /health and /v1/health open (key as "
    "'Authorization: Bearer KEY' or X-Api-Key, L270-282)"
)
METRICS = EngineMetrics(
    engine="llamacpp",
    version="b11434",
    path="/metrics",
    enabled_by="--metrics",
    disabled_by=(),
    needs_api_key=True,
    endpoint_source=_LLAMA_ENDPOINT,
    metrics=(
        Metric("llamacpp:prompt_tokens_total", "counter", "prompt_tokens", (), f"{_LC}:1537"),
        Metric("llamacpp:prompt_tokens_cached_total", "counter", "none", (), f"{_LC}:1541"),
        Metric("llamacpp:prompt_seconds_total", "counter", "prompt_seconds", (), f"{_LC}:1545"),
        Metric(
            "llamacpp:tokens_predicted_total", "counter", "generation_tokens", (), f"{_LC}:1549"
        ),
        Metric(
            "llamacpp:tokens_predicted_seconds_total",
            "counter",
            "generation_seconds",
            (),
            f"{_LC}:1553",
        ),
        Metric("llamacpp:n_decode_total", "counter", "decode_calls", (), f"{_LC}:1557"),
        Metric("llamacpp:spec_decode_num_draft_tokens_total", "counter", "none", (), f"{_LC}:1565"),
        Metric(
            "llamacpp:spec_decode_num_accepted_tokens_total", "counter", "none", (), f"{_LC}:1569"
        ),
        Metric("llamacpp:spec_decode_num_drafts_total", "counter", "none", (), f"{_LC}:1573"),
        # "averaged over the window between two scrapes": every /metrics request starts a
        # new window (server-context.cpp L5052-5053), so two scrapers would share one.
        Metric("llamacpp:prompt_tokens_seconds", "gauge", "prompt_throughput", (), f"{_LC}:1581"),
        Metric(
            "llamacpp:predicted_tokens_seconds", "gauge", "generation_throughput", (), f"{_LC}:1585"
        ),
        Metric("llamacpp:requests_processing", "gauge", "requests_running", (), f"{_LC}:1589"),
        Metric("llamacpp:requests_deferred", "gauge", "requests_waiting", (), f"{_LC}:1593"),
    ),
)

# The fork at 08ff6f3 (tools/server/server-context.cpp, the get_metrics handler): the same
# names as b11434 for what it has, with the same types.
_FORK = "tools/server/server-context.cpp@08ff6f3f05cf (get_metrics)"
FORK_METRICS = EngineMetrics(
    engine="llamacpp",
    version="b9049-lj-70bfa23",
    path="/metrics",
    enabled_by="--metrics",
    disabled_by=(),
    needs_api_key=True,
    endpoint_source=f"{_FORK}: the same --metrics error; server-http.cpp of b9049's time (UNVERIFIED at the fork)",
    metrics=tuple(
        Metric(m.name, m.kind, m.measures, m.labels, _FORK)
        for m in METRICS.metrics
        if m.name
        in {
            "llamacpp:prompt_tokens_total",
            "llamacpp:prompt_seconds_total",
            "llamacpp:tokens_predicted_total",
            "llamacpp:tokens_predicted_seconds_total",
            "llamacpp:n_decode_total",
            "llamacpp:prompt_tokens_seconds",
            "llamacpp:predicted_tokens_seconds",
            "llamacpp:requests_processing",
            "llamacpp:requests_deferred",
        }
    ),
)
# llama-server has no histograms: means from its time and token counters stand in for
# TTFT and ITL (what its own server-task.cpp counters allow), and it reports no KV-cache use.
DASHBOARD = (
    dash.Panel(
        dash.TTFT,
        "s",
        "llama-server reports no time to first token: this is its mean prompt-processing time per prompt token (TTFT = prompt tokens x this, plus queueing).",
        (
            dash.ratio(
                "llamacpp:prompt_seconds_total", "llamacpp:prompt_tokens_total", "prefill s/token"
            ),
        ),
    ),
    dash.Panel(
        dash.ITL,
        "s",
        "llama-server reports no inter-token histogram: this is its mean generation time per generated token, per slot.",
        (
            dash.ratio(
                "llamacpp:tokens_predicted_seconds_total",
                "llamacpp:tokens_predicted_total",
                "s/token",
            ),
        ),
    ),
    dash.Panel(
        dash.TOKENS,
        "short",
        "Generated and prompt tokens per second, all slots together.",
        (
            dash.per_second("llamacpp:tokens_predicted_total", "generated"),
            dash.per_second("llamacpp:prompt_tokens_total", "prompt"),
        ),
    ),
    dash.Panel(
        dash.REQUESTS,
        "short",
        "Slots busy with a request, and requests deferred until a slot frees.",
        (
            dash.Query("llamacpp:requests_processing", "running"),
            dash.Query("llamacpp:requests_deferred", "waiting"),
        ),
    ),
    dash.Panel(
        dash.KV, "percentunit", "llama-server (b11434 and the fork) exports no KV-cache metric."
    ),
)


class LlamaCpp(base.Engine):
    name = "llamacpp"
    display_name = "llama.cpp"
    options = LlamaCppOptions
    pinned_version = PINNED_VERSION
    port = PORT
    image_repositories = UPSTREAM_IMAGES  # the fork is built, never recognised by its image
    metrics = (METRICS, FORK_METRICS)
    dashboard = DASHBOARD
    # ling_compose sets the variable (common/arg.cpp: --api-key, env LLAMA_API_KEY).
    served_name_flag = "--alias"
    api_key_place = base.ApiKeyPlace(flag="--api-key", env=API_KEY_ENV)

    activation_reserve_gib = 1.5
    state_bytes_per_value = 4  # f32 recurrent state (src/llama-memory-recurrent.cpp type_s)
    state_note = "f32, llama.cpp's recurrent state"
    cache_pool = "slots"
    offloads_experts = True
    # The fork's `--spec-type mtp` (common/speculative.cpp at 08ff6f3) runs, but its README.HF
    # says it "actually slows down the decode" (Apple M2 Max, Metal; CUDA untested); upstream
    # b11434 has MTP graphs for other models only (no bailing-hybrid model file).
    mtp_off_reason = (
        "runs no MTP here: the fork's --spec-type mtp decodes slower than without it by its "
        "author's measurement (Metal only, CUDA untested), and upstream llama.cpp has no MTP "
        "for Ling-2.6"
    )
    max_gpus = 1  # multi-GPU llama.cpp layouts are not modelled

    parser_rules = lint.ParserRules(
        abbreviations=False,
        underscores=True,
        equals_form=False,
        value_may_look_like_option=True,
        dotted_json=False,
        value_checks={"int": lint.stoi},
    )
    # llama.cpp parses tool calls from the chat template, which needs --jinja (on by default):
    # no parser flag.
    tool_call_parsers = MappingProxyType({(TOOL_CALL_FORMAT, "b11434"): None})
    reasoning_parsers = MappingProxyType({("deepseek_r1", "b11434"): None})

    report_figures = (
        base.ReportFigure("context_per_slot", "context per slot", "tokens"),
        base.ReportFigure("kv_cache_gib", "KV buffer on the GPU", "GiB"),
        base.ReportFigure("state_gib", "recurrent-state buffer", "GiB"),
        base.ReportFigure("gpu_weights_gib", "weights on the GPU", "GiB"),
        base.ReportFigure("host_weights_gib", "weights in host RAM", "GiB"),
    )
    tool_call_hint = (
        "llama.cpp parses tool calls only with `--jinja` (on by default; `--no-jinja` "
        "turns it off) and a chat template that declares tools (`--chat-template-file`)"
    )
    tool_call_flags = "--jinja"

    def command(self, stack: Stack, plan: Plan) -> base.EngineCommand:
        backend = stack.backend
        assert isinstance(backend, LlamaCppOptions)
        serving, ckpt = stack.serving, stack.checkpoint
        upstream = bool(backend.image and backend.image.startswith(UPSTREAM_IMAGES))
        if upstream and backend.model_file is None:
            raise ConfigError(
                f"{backend.image} cannot load Ling-2.6-flash: upstream llama.cpp has no "
                "bailing_hybrid support (ggml-org/llama.cpp issue 22641)",
                hint="leave --image unset to build the fork, pass an image you built from it, or "
                "serve a local GGUF that upstream loads with --model-file",
            )
        assert ckpt.gguf_file is not None
        slots = serving.concurrency
        mounts: tuple[Mount, ...] = ()
        if backend.model_file is not None:
            target = MODEL_DIR + "/" + PurePosixPath(backend.model_file).name
            mounts = (Mount(source=backend.model_file, target=target, read_only=True),)
            model_args = ["--model", target]
        else:
            model_args = ["--hf-repo", ckpt.hf_repo, "--hf-file", ckpt.gguf_file]
        args: list[Value] = [
            *model_args,
            *self.serving_args(stack),
            "--ctx-size",
            str(serving.context_length * slots),  # shared by all slots
            "--parallel",
            str(slots),
            "--n-gpu-layers",
            "999",
        ]
        if plan.host is not None and plan.host.n_cpu_moe:
            # routed experts of the first N layers in RAM
            args += ["--n-cpu-moe", str(plan.host.n_cpu_moe)]
        args += ["--flash-attn", backend.flash_attn, "--jinja", "--metrics"]  # --jinja: tool calls
        if plan.yarn:
            args += [
                "--rope-scaling",
                "yarn",
                "--rope-scale",
                "2",
                "--yarn-orig-ctx",
                str(MAX_CONTEXT_NATIVE),
            ]
        env: dict[str, Value] = {"LLAMA_CACHE": "/root/.cache/llama.cpp"}
        if serving.api_key_env:
            env[API_KEY_ENV] = base.api_key_ref(serving.api_key_env)
        build: ImageBuild | None = None
        notes: list[str] = []
        image = backend.image
        if image is None:
            build, notes = _fork_build(stack, backend)
            image = f"{FORK_IMAGE}:{_image_tag(backend.fork_ref)}"
            notes.append(
                "The fork is shown working on Apple Metal; its CUDA path is unverified upstream."
            )
        else:
            notes = [f"Image {image} (--image): ling_compose neither builds nor checks it."]
        if backend.model_file is not None:
            notes += [
                f"Model: the local file {backend.model_file}, mounted read-only at "
                f"{mounts[0].target}.",
                "This stack serves THAT FILE, not Ling-2.6-flash: the layout and memory lines above are",
                "Ling-2.6-flash's plan and say nothing about it."
                + (" Upstream llama.cpp cannot load Ling-2.6-flash." if upstream else ""),
            ]
        # An upstream image runs upstream's options (b11434); anything else is the fork's.
        version = backend.version or (PINNED_VERSION if upstream else FORK_VERSION)
        return self.finish(
            stack, version, args, env=env, image=image, build=build, notes=notes, mounts=mounts
        )

    # -- planning ----------------------------------------------------------------------------
    def usable_memory(self, options: EngineOptions, total_gib: float) -> tuple[float, str]:
        return total_gib * GPU_FRACTION, f"{GPU_FRACTION:.2f} x {total_gib:.1f} (planning headroom)"

    def capacity(self, demand: CacheDemand) -> Capacity:
        """--ctx-size is split across --parallel slots (n_ctx_seq = n_ctx / n_seq_max unless
        --kv-unified, src/llama-context.cpp at b11434), so every slot owns a full context and
        its recurrent state from the start."""
        slots, budget = demand.concurrency, demand.budget
        per_seq = demand.kv_seq + demand.state_seq
        return Capacity(
            kv_pool=slots * demand.kv_seq,
            state_pool=slots * demand.state_seq,
            pool_note=f"{slots} slot(s), each with its own context and state (llama.cpp)",
            kv_pool_tokens=slots * demand.context,
            sequences_at_full_context=slots
            if slots * per_seq <= budget
            else int(budget // per_seq),
            max_context_at_1=max(0, int((budget - demand.state_seq) * GIB / demand.per_token)),
            running_cap=slots,
        )

    def cpu_moe_layers(self, options: EngineOptions) -> int | None:
        assert isinstance(options, LlamaCppOptions)
        if options.n_cpu_moe is None:
            return None
        return max(0, options.n_cpu_moe - 1)  # --n-cpu-moe counts layers; layer 0 has no experts

    def all_layers_on_gpu(self, options: EngineOptions) -> EngineOptions | None:
        return options.model_copy(update={"n_cpu_moe": 0})

    def problems(self, stack: Stack, tensor_parallel: int, pipeline_parallel: int) -> list[str]:
        problems: list[str] = []
        if stack.checkpoint.format != "gguf":
            problems.append("llama.cpp loads only GGUF files; use the gguf checkpoint")
        if stack.hardware.count != 1:
            problems.append("multi-GPU llama.cpp layouts are not modelled; use 1 GPU")
        return problems

    def planned_figures(self, plan: Plan) -> dict[str, float]:
        g = plan.gpu
        return {
            "context_per_slot": plan.context_length,
            "kv_cache_gib": round(g.kv_pool, 3),
            "state_gib": round(g.state_pool, 3),
            "gpu_weights_gib": round(g.weights, 2),
            "host_weights_gib": round(plan.host.experts_in_ram if plan.host else 0.0, 2),
        }

    def parse_report(self, log: str) -> dict[str, float]:
        """Also `offloaded_layers` / `total_layers`, beside the report figures."""
        out: dict[str, float] = {}
        if m := re.search(_CTX_SEQ, log):
            out["context_per_slot"] = base.log_number(m[1])
        buffers = {"KV": 0.0, "RS": 0.0}
        seen = set()
        for m in re.finditer(_BUFFER, log):
            if not _is_host_buffer(m[2]):
                buffers[m[3]] += base.log_number(m[4])
                seen.add(m[3])
        if "KV" in seen:
            out["kv_cache_gib"] = buffers["KV"] / MIB_PER_GIB
        if "RS" in seen:
            out["state_gib"] = buffers["RS"] / MIB_PER_GIB
        models = [(m[1], base.log_number(m[2])) for m in re.finditer(_MODEL, log)]
        if models:
            out["gpu_weights_gib"] = (
                sum(v for n, v in models if not _is_host_buffer(n)) / MIB_PER_GIB
            )
            out["host_weights_gib"] = sum(v for n, v in models if _is_host_buffer(n)) / MIB_PER_GIB
        if m := re.search(_OFFLOADED, log):
            out["offloaded_layers"], out["total_layers"] = (
                base.log_number(m[1]),
                base.log_number(m[2]),
            )
        return out

    def version_from_tag(self, tag: str) -> str | None:
        # Upstream's tags (server-cuda, server-cuda13) name no release: `validate` checks them
        # against the one ling_compose catalogues (pinned_version), and says so.
        return None

    def required_cuda(self, image: str, build: ImageBuild | None) -> str | None:
        """The fork's image is built on the CUDA_VERSION build arg."""
        built_on = build.args.get("CUDA_VERSION") if build is not None else None
        return ".".join(built_on.split(".")[:2]) if built_on else None


ENGINE = LlamaCpp()
