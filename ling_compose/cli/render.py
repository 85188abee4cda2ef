"""`render PROFILE`: compose YAML to stdout, to a file (-o, atomic) or as a stack folder."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from ling_compose.cli.stack_args import (
    add_stack_arguments,
    compiled_from_args,
    overrides_from_args,
    stack_from_args,
)
from ling_compose.compose import Compiled, render_yaml
from ling_compose.write import write_atomic


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "render", help="compile a profile into docker-compose.yml or Kubernetes manifests"
    )
    add_stack_arguments(parser)
    parser.add_argument(
        "--target",
        choices=TARGETS,
        default="compose",
        help="compose: docker-compose.yml; kubernetes: Deployment (LeaderWorkerSet with "
        "--nodes), Service and PersistentVolumeClaim as multi-document YAML (docs/kubernetes.md)",
    )
    out = parser.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here (atomically)")
    out.add_argument(
        "--stack-dir",
        type=Path,
        metavar="DIR",
        help="write DIR/docker-compose.yml, DIR/.env.example and DIR/README.md (kubernetes: "
        "DIR/ling.yaml, DIR/kustomization.yaml and DIR/README.md)",
    )
    parser.set_defaults(func=run)


TARGETS = ("compose", "kubernetes")


def _emit(
    args: argparse.Namespace,
    warnings: list[str],
    text: Callable[[], str],
    folder: Callable[[Path], list[Path]],
    what: str,
) -> int:
    """Warnings on stderr, then the text to stdout or -o FILE (atomically), or the folder."""
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.stack_dir is not None:
        for path in folder(args.stack_dir):
            print(f"wrote {path}", file=sys.stderr)
    elif args.output is not None:
        write_atomic(args.output, text())
        print(f"wrote {args.output} ({what})", file=sys.stderr)
    else:
        sys.stdout.write(text())
    return 0


def run_kubernetes(args: argparse.Namespace) -> int:
    # Imported for this target only: `render` to Compose does not load it.
    from ling_compose.kubernetes import kubernetes_stack, render_manifests
    from ling_compose.kubernetes.stack_dir import write_stack_dir
    from ling_compose.models.kubernetes import KubernetesOptions

    stack = stack_from_args(args)
    rendered = kubernetes_stack(stack, KubernetesOptions.of(overrides_from_args(args)))
    return _emit(
        args,
        rendered.warnings,
        lambda: render_manifests(rendered),
        lambda folder: write_stack_dir(rendered, folder),
        ", ".join(rendered.kinds),
    )


def _compose_folder(compiled: Compiled, folder: Path) -> list[Path]:
    from ling_compose.compose.stack_dir import write_stack_dir  # jinja2 only for a folder

    return write_stack_dir(compiled, folder)


def run(args: argparse.Namespace) -> int:
    if args.target == "kubernetes":
        return run_kubernetes(args)
    compiled = compiled_from_args(args)  # raises before anything is written
    return _emit(
        args,
        compiled.warnings,
        lambda: render_yaml(compiled.project),
        lambda folder: _compose_folder(compiled, folder),
        compiled.endpoint,
    )
