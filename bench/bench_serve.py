"""`bench` against a stand-in: prints the table of a real `python -m ling_compose bench` run.

    python bench/bench_serve.py [--ttft 0.3] [--token 0.05] [--concurrency 1,8,32] [--requests 32]

Starts a vLLM stand-in container that answers at a configured pace (time to first token, time
per token), runs `bench --url ... --profile h200-fp8` on it, prints the table and the pace it was
configured with, and removes the container. The stand-in is paced, not a model: its fractions of
the bandwidth ceilings say nothing about a real server. Needs a Docker engine (sudo
.ci/docker-engine.sh) and root to build the stand-ins once.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import uuid
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ling_compose.runtime import down, up
from ling_compose.runtime.base import SilentProgress
from ling_compose.runtime.docker_sdk import DockerRuntime
from tests.e2e.conftest import free_port, make_project
from tests.e2e.standins import build

Q = SilentProgress()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ttft", type=float, default=0.3, help="stand-in TTFT, seconds")
    parser.add_argument("--token", type=float, default=0.05, help="stand-in time per token")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--requests", default="32")
    parser.add_argument("--output-tokens", default="8")
    args = parser.parse_args()
    client = docker.from_env()
    image = build.build_all(client)["vllm"]
    rt = DockerRuntime(client=client)
    name = f"bench-serve-{uuid.uuid4().hex[:6]}"
    pace = {"STANDIN_TTFT_SECONDS": str(args.ttft), "STANDIN_TOKEN_SECONDS": str(args.token)}
    project = make_project("vllm", image, name=name, port=free_port(), env=pace)
    try:
        result = up(project, runtime=rt, progress=Q, environ={}, smoke_test=False, timeout_s=120)
        print(
            f"stand-in paced at TTFT {args.ttft * 1000:.0f} ms and {args.token * 1000:.0f} ms "
            "per token (its ceiling fractions mean nothing):"
        )
        sys.stdout.flush()
        command = [sys.executable, "-m", "ling_compose", "bench", "--url", str(result.endpoint)]
        command += ["--concurrency", args.concurrency, "--requests", args.requests]
        command += ["--input-tokens", "512", "--output-tokens", args.output_tokens]
        command += ["--profile", "h200-fp8"]
        return subprocess.run(command, stderr=subprocess.DEVNULL, check=False).returncode
    finally:
        down(name, volumes=True, timeout_s=1, runtime=rt, progress=Q)


if __name__ == "__main__":
    sys.exit(main())
