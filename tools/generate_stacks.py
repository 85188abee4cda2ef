"""Regenerate everything generated: stacks/<profile>/ (its Compose files, and its Kubernetes
manifests under kubernetes/) and docs/profiles.md (`make stacks`).

A maintenance script of this repository, not part of the package. `generated_files` is pure,
so a test compares it with the repository and fails when stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jinja2

from ling_compose import catalog
from ling_compose.compose import compile_stack
from ling_compose.compose.stack_dir import jinja_environment, stack_files
from ling_compose.kubernetes import kubernetes_stack
from ling_compose.kubernetes import stack_dir as kubernetes_dir
from ling_compose.load import load_stack
from ling_compose.write import write_atomic

STACKS_DIR = "stacks"
KUBERNETES_DIR = "kubernetes"
PROFILES_DOC = "docs/profiles.md"


def generated_files() -> dict[str, str]:
    """Repository-relative path → text, for every generated file."""
    files: dict[str, str] = {}
    compiled = [compile_stack(load_stack(name)) for name in catalog.builtin_profiles()]
    for c in compiled:
        for filename, text in stack_files(c, regenerate="make stacks").items():
            files[f"{STACKS_DIR}/{c.stack.name}/{filename}"] = text
        rendered = kubernetes_stack(c.stack)
        for filename, text in kubernetes_dir.stack_files(rendered, "make stacks").items():
            files[f"{STACKS_DIR}/{c.stack.name}/{KUBERNETES_DIR}/{filename}"] = text
    templates = jinja_environment(jinja2.FileSystemLoader(Path(__file__).parent / "templates"))
    files[PROFILES_DOC] = templates.get_template("profiles.md.j2").render(
        compiled=compiled, gpus=list(catalog.gpus().values())
    )
    return files


def main(root: Path = Path(".")) -> int:
    files = generated_files()
    stale = (
        [
            p
            for p in (root / STACKS_DIR).rglob("*")
            if str(p.relative_to(root)) not in files and p.is_file()
        ]
        if (root / STACKS_DIR).is_dir()
        else []
    )
    for path in stale:  # a removed profile leaves nothing behind
        path.unlink()
        print(f"removed {path}", file=sys.stderr)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            write_atomic(path, text)
            print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
