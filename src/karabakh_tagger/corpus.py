"""The source articles: plain UTF-8 text files whose stem is the article id."""

from __future__ import annotations

from pathlib import Path

from karabakh_tagger.errors import InputError

MAX_BYTES = 50_000_000
"""A bigger file is refused rather than read into memory; no news article comes close."""


def decode(data: bytes, name: str, encoding: str | None = None) -> str:
    """Bytes of a text file as str, or an InputError that says why it is not usable text."""
    if b"\x00" in data[:65536]:
        raise InputError(f"{name}: not a text file (it contains NUL bytes)")
    if encoding:
        try:
            return data.decode(encoding)
        except LookupError:
            raise InputError(f"{name}: unknown encoding {encoding!r}") from None
        except UnicodeDecodeError as err:
            raise InputError(f"{name}: cannot be decoded as {encoding} at byte {err.start}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        bad = sum(1 for b in data[:65536] if b >= 0x80) / max(1, min(len(data), 65536))
        if bad > 0.3:
            raise InputError(f"{name}: not a text file (mostly undecodable bytes)") from None
        raise InputError(
            f"{name}: not UTF-8 (invalid byte at {err.start}); "
            "pass --encoding, for example --encoding latin-1"
        ) from None
    return text.removeprefix("\ufeff")


def read_text(path: Path, encoding: str | None = None) -> str:
    """Read one text file, refusing binary, oversized, unreadable or mis-encoded files."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise InputError(f"{path}: too large ({size:,} bytes; the limit is {MAX_BYTES:,})")
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory") from None
    except OSError as err:
        raise InputError(f"{path}: cannot be read ({err.strerror})") from None
    return decode(data, str(path), encoding)


def load_articles(directory: Path) -> dict[str, str]:
    """All articles of ``directory`` by id, in sorted order; the text is kept byte for byte."""
    files = sorted(directory.glob("*.txt"))
    if not files:
        raise InputError(f"{directory}: no *.txt articles found")
    return {path.stem: read_text(path) for path in files}
