"""Load the labels as a Hugging Face ``datasets.Dataset`` (local JSONL only, never the hub).

``topic`` and ``stance`` become ``ClassLabel`` features with the scheme's names, and each row gets
``group``: rows that are copies of one sentence (same or nearly the same normalised words) share a
group, so that evaluation can keep all copies on one side of a split.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from karabakh_tagger.errors import InputError
from karabakh_tagger.labels import STANCES, TOPICS, normalise

NEAR_DUPLICATE_JACCARD = 0.5
"""Word-set overlap from which two sentences count as copies. In this corpus the copies (a
headline repeated under a navigation prefix, two translations of one quote) reach 0.55-0.92 and
the closest unrelated pair 0.39."""


def near_duplicate_groups(texts: list[str], threshold: float = NEAR_DUPLICATE_JACCARD) -> list[int]:
    """Group id per text: equal normalised text, or word-set Jaccard >= threshold, joins a group."""
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    words = [set(normalise(t).split()) for t in texts]
    for i in range(len(texts)):
        for j in range(i):
            union = len(words[i] | words[j])
            if union and len(words[i] & words[j]) / union >= threshold:
                parent[find(i)] = find(j)
    roots: dict[int, int] = {}
    return [roots.setdefault(find(i), len(roots)) for i in range(len(texts))]


def _read_rows(path: Path, source: str) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise InputError(f"{path}: cannot read labels ({err.strerror})") from None
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            row = json.loads(line)
            rows.append({"id": row["id"], "article": row.get("article", source),
                         "text": row["text"], "topic": row["topic"], "stance": row["stance"],
                         "source": source})
        except (json.JSONDecodeError, KeyError, TypeError):
            raise InputError(f"{path}:{number}: malformed label row (run make validate)") from None
    return rows


def load_labels(labels_path: Path, authored_path: Path | None = None) -> Any:
    """The labelled units (plus authored rows, if a path is given) as a ``datasets.Dataset``.

    Authored rows get ``article == "authored"`` and ``source == "authored"``; they are never put
    in a test fold (see ``train.article_splits``).
    """
    from datasets import ClassLabel, Dataset, Features, Value

    rows = _read_rows(labels_path, "corpus")
    if authored_path is not None:
        rows += _read_rows(authored_path, "authored")
    for row in rows:
        if row["topic"] not in TOPICS or row["stance"] not in STANCES:
            raise InputError(f"{labels_path}: row {row['id']} has an unknown label "
                             "(run make validate)")
    groups = near_duplicate_groups([row["text"] for row in rows])
    features = Features({
        "id": Value("string"), "article": Value("string"), "text": Value("string"),
        "topic": ClassLabel(names=list(TOPICS)), "stance": ClassLabel(names=list(STANCES)),
        "source": Value("string"), "group": Value("int32"),
    })
    columns = {key: [row[key] for row in rows] for key in ("id", "article", "text", "source")}
    columns["topic"] = [TOPICS.index(row["topic"]) for row in rows]
    columns["stance"] = [STANCES.index(row["stance"]) for row in rows]
    columns["group"] = groups
    return Dataset.from_dict(columns, features=features)
