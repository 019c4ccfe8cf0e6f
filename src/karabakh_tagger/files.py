"""Files written all or nothing, and their hashes. Every stage that writes an output uses these,
so an interrupted run or a full disk never leaves a half-written model, report or label file."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from karabakh_tagger.errors import InputError


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write ``path`` through a temp file in the same folder and a rename: all or nothing.

    Any OSError on the way (a full disk, a read-only folder, a folder where the file should be)
    becomes one InputError naming ``path`` and the cause; the previous file is left as it was and
    the temp file is removed.
    """
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise cannot_write(path, err) from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the result should look like any written file
        write(Path(tmp))
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise cannot_write(path, err) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class WriteError(InputError):
    """A write that failed (a full disk, no permission): ``cause`` is the system's reason."""

    def __init__(self, path: Path, cause: str) -> None:
        super().__init__(f"{path}: cannot be written ({cause})")
        self.cause = cause


def cannot_write(path: Path, err: OSError | WriteError) -> WriteError:
    """The one-line error for a write that failed: the path and the system's reason."""
    return WriteError(path, err.cause if isinstance(err, WriteError) else err.strerror or str(err))


def atomic_write_text(path: Path, text: str) -> None:
    """Text version of :func:`atomic_write`."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
