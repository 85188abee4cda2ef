"""Writing files atomically: a failed render never leaves a half-written file."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from ling_compose.errors import ConfigError

# Fixed and short: the temporary file beside the target must be creatable wherever the
# target's own name is (a 250-character target name plus a long prefix would not be).
_TMP_PREFIX, _TMP_SUFFIX = ".lc-", ".tmp"


def _cannot_write(path: Path, err: OSError) -> ConfigError:
    return ConfigError(
        f"{path}: cannot write: {err.strerror or err}",
        hint="check the path (each name at most 255 bytes), the folder and its permissions",
    )


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
    """Write to a temporary file beside `path`, then rename it over `path`. Only a regular
    file is ever replaced: a device (/dev/null) or a folder at `path` is refused.

    mkstemp creates the temporary file 0600; it gets the mode the file would have had with a
    plain write, since no secret ever goes into these files (they say `${HF_TOKEN}`)."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        if not directory.is_dir():
            raise ConfigError(
                f"{path}: directory {directory} does not exist", hint="create it first"
            )
        if path.exists() and not stat.S_ISREG(path.stat().st_mode):
            raise ConfigError(
                f"{path}: exists and is not a regular file", hint="write to a file name"
            )
        data = text.encode("utf-8")
        mode = _mode_for(path)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=_TMP_SUFFIX, dir=directory)
    except OSError as err:
        raise _cannot_write(path, err) from err
    except UnicodeEncodeError as err:
        raise ConfigError(
            f"{path}: the text holds characters that are not UTF-8 (position {err.start})",
            hint="remove them from the profile",
        ) from err
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise _cannot_write(path, err) from err


def write_folder(directory: Path, files: dict[str, str]) -> list[Path]:
    """A stack folder: `directory` created if need be, each file of `files` written atomically."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            f"{directory}: cannot create the stack folder: {err.strerror or err}",
            hint="check the path (each name at most 255 bytes) and its permissions",
        ) from err
    written = []
    for name, text in files.items():
        write_atomic(directory / name, text)
        written.append(directory / name)
    return written
