"""A real llama-server (built from the pinned llama.cpp source) and a tiny model it serves."""
