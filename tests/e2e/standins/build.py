"""Build the stand-in backend images locally (no registry): a cached Debian base, then one per backend.

Called by the e2e session fixture; also runnable by hand: `python tests/e2e/standins/build.py`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import docker
import docker.errors

from ling_compose.monitoring.metrics import catalogue

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
REAL_CATALOGS = REPO / "ling_compose" / "flags" / "catalogs"
CATALOG_FILES = ("vllm-0.33.0.json", "sglang-0.5.23.json", "llamacpp-b11434.json")

BASE_IMAGE = "ling-compose-standin-base:bookworm"
# LING_STANDIN_TAG lets test runs in several checkouts on one engine keep their images apart.
IMAGE_TAG = os.environ.get("LING_STANDIN_TAG", "test")
IMAGES = {
    backend: f"ling-compose-standin/{backend}:{IMAGE_TAG}"
    for backend in ("vllm", "sglang", "llamacpp")
}
# python3-minimal lacks json/http.server: libpython3.11-stdlib brings them; curl for healthchecks.
DEBOOTSTRAP_INCLUDE = "python3-minimal,libpython3.11-stdlib,curl"


class BuildUnavailable(Exception):
    """The images cannot be built on this machine (not root, no debootstrap): tests skip."""


def _say(msg: str) -> None:
    print(f"standins: {msg}", file=sys.stderr, flush=True)


def catalog_source() -> str:
    """Which flag catalogues go into the images: the real ones once all three exist."""
    if all((REAL_CATALOGS / name).is_file() for name in CATALOG_FILES):
        return "real"
    return "test"


def metrics_catalogue() -> dict[str, list[dict[str, object]]]:
    """The metric names each engine version writes, for the stand-ins' /metrics: the same
    list the dashboard is checked against (ling_compose.monitoring.metrics)."""
    return {
        f"{engine} {version}": [
            {"name": m.name, "kind": m.kind, "measures": m.measures, "labels": list(m.labels)}
            for m in metrics.metrics
        ]
        for (engine, version), metrics in catalogue().items()
    }


def build_base(client: docker.DockerClient) -> None:
    try:
        client.images.get(BASE_IMAGE)
        return
    except docker.errors.ImageNotFound:
        pass
    if os.geteuid() != 0:
        raise BuildUnavailable("building the stand-in base image needs root (debootstrap)")
    if shutil.which("debootstrap") is None:
        raise BuildUnavailable("debootstrap is not installed (run .ci/docker-engine.sh as root)")
    _say(f"building {BASE_IMAGE} with debootstrap (about a minute, once)")
    with tempfile.TemporaryDirectory(prefix="ling-standin-rootfs-") as root:
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={DEBOOTSTRAP_INCLUDE}",
                "bookworm",
                root,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for junk in (
            "usr/share/doc",
            "usr/share/man",
            "usr/share/locale",
            "var/cache/apt",
            "var/lib/apt/lists",
        ):
            shutil.rmtree(Path(root) / junk, ignore_errors=True)
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        client.api.import_image_from_stream(tar.stdout, repository=BASE_IMAGE)
        tar.stdout.close()
        if tar.wait() != 0:
            raise RuntimeError("tar of the debootstrap root failed")
    client.images.get(BASE_IMAGE)


def build_all(client: docker.DockerClient | None = None) -> dict[str, str]:
    """Build (or refresh from the layer cache) the three stand-in images; return backend → tag."""
    client = client or docker.from_env()
    build_base(client)
    source = catalog_source()
    with tempfile.TemporaryDirectory(prefix="ling-standin-ctx-") as ctx:
        ctx_path = Path(ctx)
        shutil.copy(HERE / "standin.py", ctx_path / "standin.py")
        shutil.copytree(HERE / "bin", ctx_path / "bin")
        shutil.copytree(
            HERE / "sglang", ctx_path / "sglang", ignore=shutil.ignore_patterns("__pycache__")
        )
        cat_dir = REAL_CATALOGS if source == "real" else HERE / "catalogs"
        (ctx_path / "catalogs").mkdir()
        for name in CATALOG_FILES:
            shutil.copy(cat_dir / name, ctx_path / "catalogs" / name)
        (ctx_path / "catalogs" / "metrics.json").write_text(json.dumps(metrics_catalogue()))
        for backend, tag in IMAGES.items():
            shutil.copy(HERE / f"Dockerfile.{backend}", ctx_path / f"Dockerfile.{backend}")
            client.images.build(
                path=ctx,
                dockerfile=f"Dockerfile.{backend}",
                tag=tag,
                rm=True,
                labels={
                    "io.ling-compose.standin": backend,
                    "io.ling-compose.standin.catalogs": source,
                },
            )
    _say(f"images ready ({source} flag catalogues): {', '.join(IMAGES.values())}")
    return dict(IMAGES)


def copy_image(src: docker.DockerClient, dst: docker.DockerClient, tag: str) -> None:
    """Load an image into another engine (the second, hook-less one): there is no registry."""
    try:
        dst.images.get(tag)
        return
    except docker.errors.ImageNotFound:
        pass
    # named=tag: an image built in several checkouts carries several tags; save the one asked for.
    data = b"".join(src.images.get(tag).save(named=tag))
    dst.images.load(data)


if __name__ == "__main__":
    try:
        build_all()
    except BuildUnavailable as err:
        _say(f"cannot build: {err}")
        sys.exit(0)
