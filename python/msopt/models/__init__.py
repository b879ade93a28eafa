"""Models trained end to end in native loops: :class:`Word2Vec` (with :class:`KeyedVectors`)
and the fastText-style :class:`TextClassifier`."""

from __future__ import annotations

from msopt.models.text_classifier import TextClassifier
from msopt.models.word2vec import KeyedVectors, Word2Vec

__all__ = ["KeyedVectors", "TextClassifier", "Word2Vec"]
