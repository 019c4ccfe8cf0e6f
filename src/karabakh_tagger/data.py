"""The labelled data, as the one small typed container that every later stage reads.

Rows come from two places: the corpus units of ``labels/sentences.jsonl`` (real news, each of one
article) and, when the config says ``use_authored``, the composed sentences of ``labels/authored/``
(one JSON-lines file per batch, written by the project's writers; never news text). The label files
are read through Hugging Face ``datasets`` (local JSON only, with ``ClassLabel`` features carrying the
scheme's names) and cross this module's boundary once, as :class:`LabelledData`; nothing downstream
indexes a ``datasets.Dataset``.

Each row also gets a copy group (``similarity.copy_groups``): copies of one sentence share one, so a
split can keep all of them on one side.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from karabakh_tagger.errors import InputError
from karabakh_tagger.files import sha256_file
from karabakh_tagger.labels import TASKS
from karabakh_tagger.similarity import copy_groups

CORPUS, COMPOSED = "corpus", "authored"


@dataclass(frozen=True, eq=False)
class LabelledData:
    """Texts, labels (class indices in scheme order) and where each row comes from.

    ``articles`` holds the article id of corpus rows and "" for composed rows; ``batches`` the batch
    name of composed rows and "" for corpus rows; ``copies`` the copy group of every row.
    """

    ids: tuple[str, ...]
    texts: tuple[str, ...]
    y: dict[str, np.ndarray]
    classes: dict[str, tuple[str, ...]]
    articles: np.ndarray
    batches: np.ndarray
    copies: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def corpus(self) -> np.ndarray:
        """Boolean mask of the real article units."""
        return self.articles != ""

    def groups(self) -> np.ndarray:
        """The ``groups`` argument of the splitters: one (article, batch, copy group) row per row."""
        out = np.empty((len(self), 3), dtype=object)
        out[:, 0], out[:, 1], out[:, 2] = self.articles, self.batches, self.copies
        return out

    def subset(self, rows: Sequence[int] | np.ndarray) -> LabelledData:
        """The same container restricted to ``rows`` (in that order)."""
        rows = np.asarray(rows, dtype=int)
        return dataclasses.replace(
            self, ids=tuple(self.ids[i] for i in rows), texts=tuple(self.texts[i] for i in rows),
            y={t: v[rows] for t, v in self.y.items()}, articles=self.articles[rows],
            batches=self.batches[rows], copies=self.copies[rows])

    def names(self, task: str) -> np.ndarray:
        """The labels of a task as class names."""
        return np.asarray(self.classes[task], dtype=object)[self.y[task]]


@dataclass(frozen=True)
class DataSources:
    """Which label files made a LabelledData, with their hashes (for the manifest)."""

    labels_file: str
    labels_sha256: str
    authored_dir: str | None
    authored_sha256: str | None
    corpus_units: int
    articles: tuple[str, ...]
    composed_rows: int
    batches: tuple[str, ...]


def authored_files(folder: Path) -> list[Path]:
    """The batch files of a folder of composed sentences, sorted."""
    return sorted(p for p in folder.glob("*.jsonl") if p.is_file())


def _read_jsonl(path: Path) -> list[dict[str, object]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or "not UTF-8"
        raise InputError(f"{path}: cannot read labels ({reason})") from None
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or row.get("topic") not in TASKS["topic"] or (
                    row.get("stance") not in TASKS["stance"]) or not isinstance(row.get("text"), str):
                raise ValueError
        except ValueError:
            raise InputError(f"{path}:{number}: malformed label row (run make validate)") from None
        rows.append(row)
    return rows


def _dataset(rows: list[dict[str, object]]) -> object:
    """The rows as a ``datasets.Dataset`` with the scheme's ClassLabel features."""
    from datasets import ClassLabel, Dataset, Features, Value

    features = Features({"id": Value("string"), "text": Value("string"),
                         "article": Value("string"), "batch": Value("string"),
                         **{task: ClassLabel(names=list(names)) for task, names in TASKS.items()}})
    columns = {key: [str(r.get(key, "")) for r in rows] for key in ("id", "text", "article", "batch")}
    for task, names in TASKS.items():
        columns[task] = [names.index(str(r[task])) for r in rows]
    return Dataset.from_dict(columns, features=features)


def _sha256_files(paths: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def load_data(labels_path: Path, authored_dir: Path | None = None) -> tuple[LabelledData, DataSources]:
    """The corpus units, plus the composed rows of ``authored_dir`` when given."""
    corpus = _read_jsonl(labels_path)
    for row in corpus:
        if not isinstance(row.get("article"), str) or not row["article"]:
            raise InputError(f"{labels_path}: row {row.get('id')} has no article (run make validate)")
    composed: list[dict[str, object]] = []
    files: list[Path] = []
    if authored_dir is not None:
        if not authored_dir.is_dir():
            raise InputError(f"{authored_dir}: no folder of composed sentences here")
        files = authored_files(authored_dir)
        for path in files:
            composed += [{**row, "article": "", "batch": str(row.get("batch") or path.stem)}
                         for row in _read_jsonl(path)]
    table = _dataset(corpus + composed)
    columns = table.to_dict()  # type: ignore[attr-defined]
    texts = tuple(columns["text"])
    data = LabelledData(
        ids=tuple(columns["id"]), texts=texts,
        y={task: np.asarray(columns[task], dtype=np.int64) for task in TASKS},
        classes={task: tuple(table.features[task].names) for task in TASKS},  # type: ignore[attr-defined]
        articles=np.asarray(columns["article"], dtype=object),
        batches=np.asarray(columns["batch"], dtype=object),
        copies=np.asarray(copy_groups(texts), dtype=np.int64))
    sources = DataSources(
        labels_file=str(labels_path), labels_sha256=sha256_file(labels_path),
        authored_dir=str(authored_dir) if authored_dir is not None else None,
        authored_sha256=_sha256_files(files) if authored_dir is not None else None,
        corpus_units=len(corpus), articles=tuple(sorted({str(r["article"]) for r in corpus})),
        composed_rows=len(composed), batches=tuple(sorted({str(r["batch"]) for r in composed})))
    return data, sources
