"""Writing files atomically: a failed render never leaves a half-written file."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from ling_compose.errors import ConfigError


def _umask() -> int:
    # Python 3.11 has no os.getumask(): setting it is the only way to read it.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(path: Path) -> int:
    """An existing file keeps its mode; a new one gets what open() would give it (umask)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`.

    mkstemp creates the temporary file 0600; it gets the mode the file would have had with a
    plain write, since no secret ever goes into these files (they say `${HF_TOKEN}`)."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise ConfigError(f"{path}: directory {directory} does not exist", hint="create it first")
    mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(text)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(
            f"{path}: cannot write: {err.strerror}", hint="check permissions"
        ) from err
