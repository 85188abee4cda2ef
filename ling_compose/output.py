"""Writing files atomically: a failed render never leaves a half-written file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ling_compose.errors import ConfigError


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise ConfigError(f"{path}: directory {directory} does not exist", hint="create it first")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(
            f"{path}: cannot write: {err.strerror}", hint="check permissions"
        ) from err
