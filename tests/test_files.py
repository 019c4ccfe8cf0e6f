"""Atomic writes and hashes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from karabakh_tagger.errors import InputError
from karabakh_tagger.files import WriteError, atomic_write, atomic_write_text, sha256_file


def _temps(folder: Path) -> list[str]:
    return [name for name in os.listdir(folder) if name.endswith(".tmp")]


def test_atomic_write_is_all_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    atomic_write_text(path, "one")
    assert path.read_text(encoding="utf-8") == "one"

    def fail(tmp: Path) -> None:
        tmp.write_text("partial", encoding="utf-8")
        raise OSError(28, "No space left on device")

    with pytest.raises(WriteError, match=r"a\.txt: cannot be written \(No space left on device\)$"):
        atomic_write(path, fail)
    assert path.read_text(encoding="utf-8") == "one" and _temps(tmp_path) == []


def test_a_folder_in_the_way_is_one_line_before_anything_is_written(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(InputError, match="out: is a folder; give a file name"):
        atomic_write_text(tmp_path / "out", "x")
    (tmp_path / "a.txt").write_text("", encoding="utf-8")
    with pytest.raises(WriteError, match=r"b\.txt: cannot be written"):  # a file where a folder should be
        atomic_write_text(tmp_path / "a.txt" / "b.txt", "x")
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "out"]


def test_atomic_write_creates_the_folder_and_the_usual_mode(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    path = tmp_path / "new" / "a.txt"
    atomic_write_text(path, "x")
    plain = tmp_path / "plain.txt"
    plain.write_text("x", encoding="utf-8")
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_sha256_file_is_the_hash_of_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "b.bin"
    data = os.urandom(3_000_000)
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
