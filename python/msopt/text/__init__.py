"""Text to ids: streaming word counts, a vocabulary, fastText-style hashed n-grams, and
fastText's labelled-line format (see :mod:`msopt.text.vocabulary`)."""

from __future__ import annotations

from msopt.text.vocabulary import Vocabulary, iter_lines, read_labeled

__all__ = ["Vocabulary", "iter_lines", "read_labeled"]
