"""stacks/ and docs/profiles.md are exactly what `make stacks` would write."""

from pathlib import Path

from ling_compose import catalog
from tools.generate_stacks import STACKS_DIR, generated_files

ROOT = Path(__file__).resolve().parents[2]


def test_generated_files_are_up_to_date():
    stale = [
        rel
        for rel, text in generated_files().items()
        if not (ROOT / rel).exists() or (ROOT / rel).read_text(encoding="utf-8") != text
    ]
    assert not stale, f"run `make stacks`; stale or missing: {stale}"


def test_no_stack_folder_without_a_profile():
    folders = {p.name for p in (ROOT / STACKS_DIR).iterdir() if p.is_dir()}
    assert folders == set(catalog.builtin_profiles())


def test_each_stack_has_compose_env_example_and_readme():
    for name in catalog.builtin_profiles():
        for filename in ("docker-compose.yml", ".env.example", "README.md"):
            assert (ROOT / STACKS_DIR / name / filename).is_file()
        for filename in ("ling.yaml", "kustomization.yaml", "README.md"):
            assert (ROOT / STACKS_DIR / name / "kubernetes" / filename).is_file()
