"""The source articles: plain UTF-8 text files whose stem is the article id.

Reading is bounded whatever the source: a regular file, a device such as ``/dev/zero``, a FIFO or
stdin is read ``MAX_BYTES + 1`` bytes at most, so memory stays bounded even where ``stat`` has no
size to tell. Whether bytes are text is decided on the whole input, also with ``--encoding``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import BinaryIO

from karabakh_tagger.errors import InputError

MAX_BYTES = 50_000_000
"""A bigger input is refused rather than read into memory; no news article comes close."""

# C0 controls other than tab, line feed, vertical tab, form feed and carriage return, and the C1
# controls: what a latin-1 decoding of binary data is full of, and text in any encoding is not.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x80-\x9f]")


def shown(path: str | bytes | os.PathLike[str]) -> str:
    """A path as it is shown in messages and output: bytes that are not UTF-8 (which Python keeps
    as surrogates) become U+FFFD, so every line written stays valid UTF-8."""
    return os.fsencode(path).decode("utf-8", "replace")


def read_limited(handle: BinaryIO, name: str, limit: int = MAX_BYTES) -> bytes:
    """All bytes of an open stream, or an InputError once there are more than ``limit``.

    Reads ``limit + 1`` bytes at most: the size ``stat`` gives is 0 for devices, FIFOs and pipes,
    so only the read itself can enforce the limit.
    """
    data = handle.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{name}: too large (more than the limit of {limit:,} bytes)")
    return data


def decode(data: bytes, name: str, encoding: str | None = None) -> str:
    """Bytes of a text file as str, or an InputError that says why it is not usable text.

    Without ``encoding``, a NUL byte anywhere means binary, and other undecodable bytes mean
    another encoding. With one (UTF-16 is full of NUL bytes), the decoded text is checked instead:
    a NUL character anywhere, or control characters in more than 5% of the first 64 Ki
    characters, mean binary, so ``--encoding latin-1`` (which decodes any bytes) never lets a
    PNG through.
    """
    if encoding:
        try:
            text = data.decode(encoding)
        except LookupError:
            raise InputError(f"{name}: unknown encoding {encoding!r}") from None
        except UnicodeDecodeError as err:
            raise InputError(f"{name}: cannot be decoded as {encoding} at byte {err.start}") from None
        head = text[:65536]
        if "\x00" in text or len(_CONTROL.findall(head)) > 0.05 * max(1, len(head)):
            raise InputError(f"{name}: not a text file (binary data, even decoded as {encoding})")
        return text.removeprefix("\ufeff")
    if b"\x00" in data:
        raise InputError(f"{name}: not a text file (it contains NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        if _looks_binary(data[:65536]):
            raise InputError(f"{name}: not a text file (mostly undecodable bytes)") from None
        raise InputError(
            f"{name}: not UTF-8 (invalid byte at {err.start}); "
            "pass --encoding, for example --encoding latin-1"
        ) from None
    return text.removeprefix("\ufeff")


def _looks_binary(head: bytes) -> bool:
    """Control bytes, or high bytes with no spaces between them: not text in any 8-bit encoding
    (Cyrillic in cp1251 or French in latin-1 still has a space every few words)."""
    n = max(1, len(head))
    control = sum(1 for b in head if b < 0x20 and b not in b"\t\n\r\f")
    spaces = sum(1 for b in head if b in b" \t\n\r")
    high = sum(1 for b in head if b >= 0x80)
    return control > 0.05 * n or (n > 64 and high > 0.5 * n and spaces < 0.01 * n)


def read_text(path: Path, encoding: str | None = None) -> str:
    """Read one text file (or device, or FIFO), refusing binary, oversized, unreadable or
    mis-encoded input."""
    return decode(read_bytes(path), shown(path), encoding)


def read_bytes(path: Path) -> bytes:
    """The bytes of one file (or device, or FIFO), refusing an oversized or unreadable one."""
    name = shown(path)
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_BYTES:  # a regular file says its size: refuse before reading
                raise InputError(f"{name}: too large ({size:,} bytes; the limit is {MAX_BYTES:,})")
            data = read_limited(handle, name)
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory") from None
    except OSError as err:
        raise InputError(f"{name}: cannot be read ({err.strerror})") from None
    return data


def load_articles(directory: Path) -> dict[str, str]:
    """All articles of ``directory`` by id, in sorted order; the text is kept byte for byte."""
    files = sorted(directory.glob("*.txt"))
    if not files:
        raise InputError(f"{directory}: no *.txt articles found")
    return {path.stem: read_text(path) for path in files}
