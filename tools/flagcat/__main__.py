"""flagcat command line: generate | diff | affected | verify (run from the repository root)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ling_compose.engines import registry
from tools.flagcat import affected as affected_mod
from tools.flagcat import diff as diff_mod
from tools.flagcat import envs
from tools.flagcat import generate as gen
from tools.flagcat import verify as verify_mod

BACKENDS = registry.BUILT_IN  # the engines whose catalogues flagcat knows how to generate


def _generate(ns: argparse.Namespace) -> int:
    old = gen.previous_catalog(ns.backend, ns.version)
    fork = None
    if ns.arg_cpp:
        if not (ns.source and ns.image):
            raise SystemExit("--arg-cpp needs --source and --image (what the catalogue records)")
        fork = gen.ForkSource(Path(ns.arg_cpp), ns.source, ns.image)
    doc = gen.build(ns.backend, ns.version, Path(ns.venv) if ns.venv else None, fork=fork)
    if old is not None and old.get("version") == ns.version and not ns.redate:
        # Same version regenerated: keep the date so an unchanged catalogue stays byte-identical.
        doc["generated_on"] = old.get("generated_on", doc["generated_on"])
    path = gen.write(doc)
    print(f"wrote {path.relative_to(envs.REPO)}: {len(doc['options'])} options")
    base = f"{old['backend']} {old['version']}" if old else "nothing"
    changes = diff_mod.diff(old, doc)
    print(f"flag-level diff against {base}: {len(changes)} change(s)")
    for line in changes:
        print("  " + line)
    if old is not None and old.get("version") != ns.version:
        print(f"next: python -m tools.flagcat affected {ns.backend} {ns.version}")
    return 0


def _diff(ns: argparse.Namespace) -> int:
    a = json.loads(Path(ns.old).read_text(encoding="utf-8"))
    b = json.loads(Path(ns.new).read_text(encoding="utf-8"))
    for line in diff_mod.diff(a, b):
        print(line)
    return 0


def _affected(ns: argparse.Namespace) -> int:
    files = [Path(f) for f in ns.files] or None
    lines, broken = affected_mod.affected(ns.backend, ns.version, files)
    print("\n".join(lines))
    return 1 if broken else 0


def _verify(ns: argparse.Namespace) -> int:
    files = [Path(f) for f in ns.files] or verify_mod.default_files()
    lines, rejected = verify_mod.verify(files, build_llama=ns.build_llama)
    print("\n".join(lines))
    print(f"{len(lines) - rejected} accepted, {rejected} rejected")
    return 1 if rejected else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.flagcat", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser(
        "generate", help="regenerate a catalogue from the engine's real code, show the diff"
    )
    g.add_argument("backend", choices=BACKENDS)
    g.add_argument("version", help="engine version (llama.cpp: release tag, e.g. b11434)")
    g.add_argument(
        "--venv", help="use this engine venv instead of .work/flagcat/venv-<backend>-<version>"
    )
    g.add_argument("--redate", action="store_true", help="stamp today's date even if unchanged")
    g.add_argument(
        "--arg-cpp",
        metavar="FILE",
        help="llama.cpp fork: its common/arg.cpp at the pinned commit (no release package has it)",
    )
    g.add_argument("--source", help="with --arg-cpp: repository, commit and path of that file")
    g.add_argument("--image", help="with --arg-cpp: the image built from that commit")
    g.set_defaults(func=_generate)
    d = sub.add_parser("diff", help="flag-level diff of two catalogue files")
    d.add_argument("old")
    d.add_argument("new")
    d.set_defaults(func=_diff)
    a = sub.add_parser(
        "affected", help="which built-in stacks break or change on a catalogue version"
    )
    a.add_argument("backend", choices=BACKENDS)
    a.add_argument("version")
    a.add_argument("files", nargs="*", help="compose files (default: stacks/*/docker-compose.yml)")
    a.set_defaults(func=_affected)
    v = sub.add_parser(
        "verify", help="feed stack commands to the real parsers (opt-in, needs venvs)"
    )
    v.add_argument(
        "files",
        nargs="*",
        help="compose files or Kubernetes manifests (default: stacks/*/docker-compose.yml, "
        "stacks/*/kubernetes/ling.yaml and the multi-node layouts of stackfiles.MULTI_NODE)",
    )
    v.add_argument("--build-llama", action="store_true", help="build llama-server (cmake, minutes)")
    v.set_defaults(func=_verify)
    ns = p.parse_args(argv)
    code: int = ns.func(ns)
    return code


if __name__ == "__main__":
    sys.exit(main())
