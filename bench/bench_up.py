"""Benchmark of `up` against the stand-in images: prints figures, asserts nothing (not a test).

    python bench/bench_up.py [--runs 5] [--load 2]

- readiness detection latency: the stand-in logs STANDIN_READY_AT when /health turns 200;
  measured to the moment `up` (wait, no smoke) returns;
- failure detection latency: the stand-in exits during load (logging STANDIN_EXIT_AT); measured
  to the moment `up` raises, with restart policy "no" and "unless-stopped";
- `up` overhead: `up` (network, volume, labels, inspect-based wait) against a bare docker-py
  `containers.run` plus a /health polling loop at the same interval on the same image;
- `docker compose up -d --wait` on a rendered stack (h200-fp8, stand-in image): from the moment
  the backend is ready to the moment Compose v2 returns, i.e. what the rendered healthcheck
  costs users of Compose; next to the same figure for our own `up`.
Needs a Docker engine (sudo .ci/docker-engine.sh) and root to build the stand-ins once.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ling_compose.errors import HealthError
from ling_compose.runtime import down, up
from ling_compose.runtime.base import SilentProgress
from ling_compose.runtime.docker_sdk import DockerRuntime
from tests.e2e.conftest import free_port, make_project, render_runnable_stack, standin_stamp
from tests.e2e.standins import build
from tests.external import compose, compose_available

POLL_S = 0.5  # ling_compose's default poll interval, used for both sides
Q = SilentProgress()


def ready_latency(
    rt: DockerRuntime, client: docker.DockerClient, image: str, load: float
) -> tuple[float, float]:
    name = f"bench-{uuid.uuid4().hex[:6]}"
    proj = make_project(
        "vllm", image, name=name, port=free_port(), env={"STANDIN_LOAD_SECONDS": str(load)}
    )
    try:
        start = time.time()
        result = up(proj, runtime=rt, progress=Q, environ={}, smoke_test=False, timeout_s=120)
        returned = time.time()
        ready_at = standin_stamp(client, result.container_ids["server"], "STANDIN_READY_AT")
        return returned - ready_at, returned - start
    finally:
        down(name, volumes=True, timeout_s=1, runtime=rt, progress=Q)


def failure_latency(
    rt: DockerRuntime, client: docker.DockerClient, image: str, restart: str
) -> float:
    name = f"bench-{uuid.uuid4().hex[:6]}"
    proj = make_project(
        "vllm",
        image,
        name=name,
        port=free_port(),
        restart=restart,
        env={"STANDIN_LOAD_SECONDS": "300", "STANDIN_CRASH_AFTER": "1.5"},
    )
    try:
        try:
            up(proj, runtime=rt, progress=Q, environ={}, smoke_test=False, timeout_s=120)
        except HealthError:
            reported = time.time()
        else:
            raise RuntimeError("up did not fail")
        cid = rt.containers(name)[0].id
        return reported - standin_stamp(client, cid, "STANDIN_EXIT_AT")
    finally:
        down(name, volumes=True, timeout_s=1, runtime=rt, progress=Q)


def compose_wait_latency(image: str, client: docker.DockerClient, load: float) -> float:
    """`docker compose up -d --wait` on a rendered stack: ready -> Compose returns."""
    with tempfile.TemporaryDirectory(prefix="bench-compose-") as tmp:
        stack = render_runnable_stack(
            Path(tmp), "h200-fp8", image, env={"STANDIN_LOAD_SECONDS": str(load)}
        )
        try:
            out = compose(["up", "-d", "--wait"], cwd=stack.folder, timeout=600)
            returned = time.time()
            if out.returncode != 0:
                raise RuntimeError(f"docker compose up --wait failed: {out.stderr}")
            return returned - standin_stamp(client, f"{stack.name}-server-1")
        finally:
            compose(["down", "--volumes", "--timeout", "1"], cwd=stack.folder)


def bare_run(client: docker.DockerClient, image: str, load: float) -> float:
    port = free_port()
    start = time.time()
    c = client.containers.run(
        image,
        ["m", "--served-model-name", "ling-2.6-flash", "--port", "8000"],
        detach=True,
        environment={"STANDIN_LOAD_SECONDS": str(load)},
        ports={"8000/tcp": ("127.0.0.1", port)},
        device_requests=[docker.types.DeviceRequest(count=1, capabilities=[["gpu"]])],
    )
    try:
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                    return time.time() - start
            except requests.ConnectionError:
                pass
            time.sleep(POLL_S)
    finally:
        c.remove(force=True)


def fmt(values: list[float]) -> str:
    return (
        f"median {statistics.median(values) * 1000:7.0f} ms   min {min(values) * 1000:6.0f}   "
        f"max {max(values) * 1000:6.0f}   (n={len(values)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--load", type=float, default=2.0, help="stand-in load seconds")
    args = parser.parse_args()
    client = docker.from_env()
    image = build.build_all(client)["vllm"]
    rt = DockerRuntime(client=client)

    ready, totals = [], []
    for _ in range(args.runs):
        lat, total = ready_latency(rt, client, image, args.load)
        ready.append(lat)
        totals.append(total)
    fail_no = [failure_latency(rt, client, image, "no") for _ in range(args.runs)]
    fail_restart = [failure_latency(rt, client, image, "unless-stopped") for _ in range(args.runs)]
    bare = [bare_run(client, image, args.load) for _ in range(args.runs)]
    with_compose = compose_available()
    waits = (
        [compose_wait_latency(image, client, args.load) for _ in range(args.runs)]
        if with_compose
        else []
    )

    print(f"stand-in load time {args.load:.1f} s, poll interval {POLL_S} s, {args.runs} runs each")
    print(f"readiness detection latency (ready -> up returns):        {fmt(ready)}")
    if with_compose:
        print(f"docker compose up -d --wait (ready -> Compose returns):   {fmt(waits)}")
    else:
        print("docker compose up -d --wait: skipped, no Docker Compose v2 (.ci/compose-v2.sh)")
    print(f"failure detection latency, restart=no (exit -> error):     {fmt(fail_no)}")
    print(f"failure detection latency, restart=unless-stopped:         {fmt(fail_restart)}")
    print(f"up to ready, total (network+volume+create+start+wait):     {fmt(totals)}")
    print(f"bare containers.run + /health polling loop:                {fmt(bare)}")
    overhead = statistics.median(totals) - statistics.median(bare)
    print(f"up overhead vs bare (median difference):                   {overhead * 1000:7.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
