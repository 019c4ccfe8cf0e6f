"""The source articles: plain UTF-8 text files whose stem is the article id."""

from __future__ import annotations

from pathlib import Path

from karabakh_tagger.errors import InputError

MAX_BYTES = 50_000_000
"""A bigger file is refused rather than read into memory; no news article comes close."""


def decode(data: bytes, name: str, encoding: str | None = None) -> str:
    """Bytes of a text file as str, or an InputError that says why it is not usable text.

    With an explicit ``encoding`` the bytes are trusted to be text (UTF-16 is full of NULs);
    otherwise NUL or control bytes mean binary, and other undecodable bytes mean another encoding.
    """
    if encoding:
        try:
            return data.decode(encoding).removeprefix("\ufeff")
        except LookupError:
            raise InputError(f"{name}: unknown encoding {encoding!r}") from None
        except UnicodeDecodeError as err:
            raise InputError(f"{name}: cannot be decoded as {encoding} at byte {err.start}") from None
    head = data[:65536]
    if b"\x00" in head:
        raise InputError(f"{name}: not a text file (it contains NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        if _looks_binary(head):
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
