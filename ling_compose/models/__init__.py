"""Pure types: hardware, checkpoints, engine options (the base; each engine's model is in its
module), stacks and overrides, plan results, the server description, the Compose project."""
