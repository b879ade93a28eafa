"""Models trained end to end in native loops: :class:`Word2Vec` (with :class:`KeyedVectors`),
:class:`Doc2Vec` (paragraph vectors, inferred at prediction time), the fastText-style
:class:`TextClassifier` and the neural :class:`LanguageModel`."""

from __future__ import annotations

from msopt.models.doc2vec import Doc2Vec
from msopt.models.language_model import LanguageModel
from msopt.models.text_classifier import TextClassifier
from msopt.models.word2vec import KeyedVectors, Word2Vec

__all__ = ["Doc2Vec", "KeyedVectors", "LanguageModel", "TextClassifier", "Word2Vec"]
