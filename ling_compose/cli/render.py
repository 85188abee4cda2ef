"""`render PROFILE`: compose YAML to stdout, to a file (-o, atomic) or as a stack folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ling_compose.cli.stack_args import add_stack_arguments, compiled_from_args, stack_from_args
from ling_compose.compose import render_yaml
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


def run_kubernetes(args: argparse.Namespace) -> int:
    # Imported for this target only: `render` to Compose does not load it.
    from ling_compose.cli.stack_args import overrides_from_args
    from ling_compose.kubernetes import kubernetes_stack, render_manifests
    from ling_compose.models.kubernetes import KubernetesOptions

    stack = stack_from_args(args)
    rendered = kubernetes_stack(stack, KubernetesOptions.of(overrides_from_args(args)))
    for warning in rendered.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.stack_dir is not None:
        from ling_compose.kubernetes.stack_dir import write_stack_dir

        for path in write_stack_dir(rendered, args.stack_dir):
            print(f"wrote {path}", file=sys.stderr)
    elif args.output is not None:
        write_atomic(args.output, render_manifests(rendered))
        print(f"wrote {args.output} ({', '.join(rendered.kinds)})", file=sys.stderr)
    else:
        sys.stdout.write(render_manifests(rendered))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.target == "kubernetes":
        return run_kubernetes(args)
    compiled = compiled_from_args(args)  # raises before anything is written
    for warning in compiled.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.stack_dir is not None:
        from ling_compose.compose.stack_dir import write_stack_dir  # jinja2 only for a folder

        for path in write_stack_dir(compiled, args.stack_dir):
            print(f"wrote {path}", file=sys.stderr)
    elif args.output is not None:
        write_atomic(args.output, render_yaml(compiled.project))
        print(f"wrote {args.output} ({compiled.endpoint})", file=sys.stderr)
    else:
        sys.stdout.write(render_yaml(compiled.project))
    return 0
