"""Tag sentences of news about the November 2020 Nagorno-Karabakh ceasefire by topic and stance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "load_tagger"]

if TYPE_CHECKING:
    from karabakh_tagger.tag import Tagger


def load_tagger(models_dir: Any = "models", **options: Any) -> Tagger:
    """Load the trained topic and stance models from ``models_dir`` (checked against the manifest).

    Options are those of :func:`karabakh_tagger.tag.load_tagger`: ``model`` ("auto", the
    recommended model when it is trained, else the baseline; or a family name) and ``warn``.
    """
    from karabakh_tagger.tag import load_tagger as _load

    return _load(models_dir, **options)
