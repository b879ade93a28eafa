"""Regression tests for what the fuzz suite found in ``msopt.text.Vocabulary`` (fixed)."""

from __future__ import annotations

import numpy as np
import pytest

import msopt

LINES = ["the cat sat", "the dog"]


def test_from_counts_checks_counts_before_reading_them():
    # a broadcast of 2**40 counts was walked item by item in Python (hours)
    huge = np.broadcast_to(np.int64(1), (2**40,))
    with pytest.raises(ValueError, match="words, counts"):
        msopt.Vocabulary.from_counts(["a", "b"], huge, 2)
    with pytest.raises(TypeError, match="counts"):
        msopt.Vocabulary.from_counts(["a", "b"], np.ones((2, 1), np.int64), 2)
    with pytest.raises(TypeError, match="counts"):
        msopt.Vocabulary.from_counts(["a", "b"], [1.5, 2.0], 2)
    with pytest.raises(TypeError, match="words"):
        msopt.Vocabulary.from_counts("ab", [1, 2], 2)


@pytest.mark.parametrize(("name", "value"), [("total_tokens", 2**64), ("counts", 2**63)])
def test_from_counts_range_checks_int64(name, value):
    kw = {"words": ["a"], "counts": [1], "total_tokens": 1, name: value}
    if name == "counts":
        kw["counts"] = [value]
    with pytest.raises(ValueError, match=name):
        msopt.Vocabulary.from_counts(**kw)


@pytest.mark.parametrize("name", ["min_count", "max_vocab", "chunk_lines"])
def test_constructor_range_checks_int64(name):
    with pytest.raises(ValueError, match=name):
        msopt.Vocabulary(**{name: 2**64})


def test_source_and_errors_are_named():
    vocab = msopt.Vocabulary(min_count=1).fit(LINES)
    with pytest.raises(TypeError, match="source"):
        vocab.encode(None)
    for bad in ("x", "\x00", "\ud800"):
        with pytest.raises(ValueError, match="errors"):
            vocab.encode(LINES, errors=bad)
    with pytest.raises(TypeError, match="errors"):
        vocab.fit(LINES, errors=None)
    assert vocab.words == ["the", "cat", "sat", "dog"]  # the refused calls changed nothing


def test_getitem_of_a_non_str_is_a_named_type_error():
    vocab = msopt.Vocabulary(min_count=1).fit(LINES)
    with pytest.raises(TypeError, match="word"):
        vocab[slice(1)]
    assert slice(1) not in vocab
    assert vocab["cat"] == 1


def test_lone_surrogates_are_named():
    vocab = msopt.Vocabulary(min_count=1).fit(LINES)
    with pytest.raises(ValueError, match="source"):
        msopt.Vocabulary(min_count=1).fit(["a \ud800 b"])
    with pytest.raises(ValueError, match="source"):
        vocab.encode(["the \ud800"])
    with pytest.raises(KeyError):
        vocab["\ud800"]
    assert "\ud800" not in vocab
