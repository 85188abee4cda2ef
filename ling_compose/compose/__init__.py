"""Compose output: a server description as a ComposeProject (compile.py), that project as YAML
(render.py), and stack folders with a README and .env.example beside it (stack_dir.py)."""

from ling_compose.compose.compile import Compiled, compile_stack
from ling_compose.compose.render import render_yaml

__all__ = ["Compiled", "compile_stack", "render_yaml"]
