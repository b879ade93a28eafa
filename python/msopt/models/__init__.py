"""Models trained end to end in native loops: :class:`Word2Vec` (with :class:`KeyedVectors`),
:class:`Doc2Vec` (paragraph vectors, inferred at prediction time), the fastText-style
:class:`TextClassifier`, the neural :class:`LanguageModel`, the :class:`SentenceEncoder`
trained on pairs, and the :class:`AnswerRanker`."""

from __future__ import annotations

from msopt.models.answer_ranker import AnswerRanker
from msopt.models.doc2vec import Doc2Vec
from msopt.models.language_model import LanguageModel
from msopt.models.sentence_encoder import SentenceEncoder
from msopt.models.text_classifier import TextClassifier
from msopt.models.word2vec import KeyedVectors, Word2Vec

__all__ = ["AnswerRanker", "Doc2Vec", "KeyedVectors", "LanguageModel", "SentenceEncoder",
           "TextClassifier", "Word2Vec"]
