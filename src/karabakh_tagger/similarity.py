"""How alike two sentences are, for the two places that must know: the validator (no composed row may
repeat the frame of another row or of a corpus unit) and the splitters (copies of one sentence stay on
one side of a split). numpy and scipy only: the label stage knows nothing of scikit-learn.

* ``tfidf_cosine_pairs``: pairs of texts whose word 1-2-gram TF-IDF vectors (sublinear tf, smoothed
  idf, l2 norm, lower case, accents stripped, the baseline model's own tokens) have a cosine of at
  least a threshold. The validator refuses pairs at ``NEAR_DUPLICATE_COSINE``.
* ``copy_groups``: a group id per text; equal normalised words, or a word-set Jaccard of at least
  ``COPY_JACCARD``, join a group (transitively).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Sequence

import numpy as np
from scipy import sparse

NEAR_DUPLICATE_COSINE = 0.8
"""Two rows this close share a frame (the same sentence with names or numbers swapped)."""
COPY_JACCARD = 0.5
"""Word-set overlap from which two sentences count as copies. In the corpus the copies (a headline
repeated under a navigation prefix, two translations of one quote) reach 0.55-0.92 and the closest
unrelated pair 0.39."""
_TOKEN = re.compile(r"(?u)\b\w+\b")


def _tokens(text: str) -> list[str]:
    text = unicodedata.normalize("NFKD", text.lower())
    return _TOKEN.findall("".join(c for c in text if not unicodedata.combining(c)))


def _matrix(docs: Sequence[Sequence[str]], sublinear_idf: bool) -> sparse.csr_matrix:
    """Rows of term weights: TF-IDF (l2-normalised) or plain 0/1 sets."""
    vocabulary: dict[str, int] = {}
    rows, cols, counts = [], [], []
    for i, terms in enumerate(docs):
        seen: dict[int, int] = {}
        for term in terms:
            j = vocabulary.setdefault(term, len(vocabulary))
            seen[j] = seen.get(j, 0) + 1
        rows += [i] * len(seen)
        cols += seen.keys()
        counts += seen.values()
    m = sparse.csr_matrix((np.asarray(counts, dtype=np.float64), (rows, cols)),
                          shape=(len(docs), len(vocabulary)))
    if not sublinear_idf:
        m.data[:] = 1.0
        return m
    m.data = np.log(m.data) + 1
    df = np.bincount(m.indices, minlength=m.shape[1])
    m = m @ sparse.diags(np.log((1 + len(docs)) / (1 + df)) + 1)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    return sparse.diags(1 / np.where(norms == 0, 1, norms)) @ m


def _ngrams(text: str) -> list[str]:
    tokens = _tokens(text)
    return tokens + [" ".join(pair) for pair in itertools.pairwise(tokens)]


def tfidf_cosine_pairs(texts: Sequence[str], others: Sequence[str] = (),
                       threshold: float = NEAR_DUPLICATE_COSINE) -> list[tuple[int, int, float]]:
    """``(i, j, cosine)`` with cosine >= threshold: among ``texts`` (i < j), and, when ``others``
    are given, between ``texts[i]`` and ``others[j]`` instead. The idf is fitted on both lists."""
    m = _matrix([_ngrams(t) for t in [*texts, *others]], sublinear_idf=True).tocsr()
    a, b = m[: len(texts)], m[len(texts):] if others else m[: len(texts)]
    sim = (a @ b.T).tocoo()
    keep = sim.data >= threshold - 1e-9
    pairs = [(int(i), int(j), float(v)) for i, j, v in zip(sim.row[keep], sim.col[keep],
                                                            sim.data[keep], strict=True)
             if others or i < j]
    return sorted(pairs)


def nearest_cosine(texts: Sequence[str]) -> np.ndarray:
    """Each text's highest TF-IDF cosine to any other text of the list (0 for a lone text)."""
    m = _matrix([_ngrams(t) for t in texts], sublinear_idf=True)
    sim = (m @ m.T).tolil()
    sim.setdiag(0)
    return np.asarray(sim.tocsr().max(axis=1).todense()).ravel() if len(texts) else np.zeros(0)


def copy_groups(texts: Sequence[str], threshold: float = COPY_JACCARD) -> list[int]:
    """Group id per text (0, 1, ... in order of first member): copies of one sentence share one."""
    sets = _matrix([sorted(set(_tokens(t))) for t in texts], sublinear_idf=False)
    sizes = np.asarray(sets.sum(axis=1)).ravel()
    inter = (sets @ sets.T).tocoo()
    union = sizes[inter.row] + sizes[inter.col] - inter.data
    joined = (inter.row < inter.col) & (inter.data >= threshold * np.where(union > 0, union, 1))
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(inter.row[joined], inter.col[joined], strict=True):
        parent[find(int(j))] = find(int(i))
    # texts without any word (e.g. "…") are alone: they have no set to compare
    roots: dict[int, int] = {}
    return [roots.setdefault(find(i), len(roots)) for i in range(len(texts))]
