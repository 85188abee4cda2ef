"""Serving engines: one module each (vllm, sglang, llamacpp), the Engine interface they
implement (base.py) and the registry that maps names to them (registry.py)."""
