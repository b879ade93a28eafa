"""What new users got wrong with Word2Vec and the other corpus readers, each now a clear
error: a flat token list, a str taken for a path, negative=0 and epochs=0, a model used
before fit, a byte-order mark and bytes that are not UTF-8."""

from __future__ import annotations

import builtins
import io
import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest

import msopt
from msopt.text import Vocabulary, iter_lines, read_labeled

SENTENCES = ["the cat sat on the mat", "the dog sat on the log",
             "a cat and a dog met on a mat"] * 30


def w2v(corpus=SENTENCES, **kw):
    opts = dict(dim=8, min_count=1, epochs=1, threads=1, seed=1)
    opts.update(kw)
    return msopt.Word2Vec(corpus, **opts)


@pytest.fixture
def no_files(monkeypatch):
    """Fail the test if anything opens or stats a file."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"the file system was touched: {args[:1]}")

    for mod, name in ((builtins, "open"), (io, "open"), (os, "open"), (os, "stat")):
        monkeypatch.setattr(mod, name, refuse)


# -- 1. a flat token list ------------------------------------------------------------------
def test_a_flat_token_list_is_refused_and_says_what_to_pass():
    text = " ".join(SENTENCES)
    with pytest.raises(ValueError, match=r"sentences: none of the 630 sentences holds two "
                                         r"known words.*\[text.split\(\)\]"):
        w2v(text.split())
    with pytest.raises(ValueError, match="none of the"):
        w2v([[w] for w in text.split()])  # one-word token lists: the same mistake
    assert w2v([text.split()]).loss_history_[0] > 0  # what the message suggests trains


def test_one_word_per_line_file_is_refused_and_changes_nothing(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("\n".join(" ".join(SENTENCES).split()), encoding="utf-8")
    model = w2v()
    before = pickle.dumps(model)
    with pytest.raises(ValueError, match="none of the"):
        model.train(path)
    assert pickle.dumps(model) == before


def test_no_sentences_or_a_spent_iterator_are_refused_and_change_nothing():
    # gensim's classic mistake: build_vocab reads a generator to its end, train gets nothing
    sentences = (s.split() for s in SENTENCES)
    model = msopt.Word2Vec(dim=8, min_count=1, threads=1, seed=1)
    model.build_vocab(sentences)
    before = pickle.dumps(model)
    for nothing in (sentences, []):
        with pytest.raises(ValueError, match="^sentences: no sentences to train on"):
            model.train(nothing)
    assert pickle.dumps(model) == before


@pytest.mark.parametrize("token", ["new york", "new\tyork", " new", "york\n", "a\rb",
                                   "a\vb", "a\fb"])
def test_a_token_holding_whitespace_is_refused_not_split(token):
    # the lines the native tokenizer reads would hold it as two words
    sentences = [s.split() for s in SENTENCES[:20]] + [["in", token, "city"]]
    with pytest.raises(ValueError, match=rf"^sentences\[20\]: the token {re.escape(repr(token))} "
                                         "holds whitespace"):
        w2v(sentences)
    model = w2v()
    before = pickle.dumps(model)
    with pytest.raises(ValueError, match="holds whitespace"):
        model.train(sentences)
    assert pickle.dumps(model) == before
    # empty tokens and empty sentences are dropped, as a line's split drops them
    assert "" not in w2v([["a", "", "b"], [], ["a", "b"]] * 3, min_count=1).wv.index_to_key


def test_a_token_that_is_not_a_str_is_named():
    with pytest.raises(TypeError, match=r"^sentences\[1\]: tokens must be str, got int \(2\)"):
        w2v([["a", "b"], ["c", 2]])
    with pytest.raises(TypeError, match=r"^sentences\[0\]: expected a str or a list of str "
                                        "tokens, got int"):
        w2v([3])


def test_sentences_with_one_known_word_each_are_refused():
    # min_count leaves a single known word in every sentence
    with pytest.raises(ValueError, match="two known words"):
        w2v([f"common rare{i}" for i in range(50)], min_count=2)


# -- 2. what names a file ------------------------------------------------------------------
@pytest.mark.usefixtures("no_files")
def test_a_str_corpus_never_reaches_the_file_system():
    for call in (lambda: w2v("the cat sat on the mat"),
                 lambda: msopt.Word2Vec().build_vocab("corpus.txt"),
                 lambda: msopt.Doc2Vec("corpus.txt", min_count=1),
                 lambda: Vocabulary().fit("corpus.txt"),
                 lambda: list(iter_lines("corpus.txt")),
                 lambda: read_labeled("train.txt"),
                 lambda: msopt.TextClassifier().fit("train.txt")):
        with pytest.raises(TypeError, match="a str is never opened as a file"):
            call()


def test_an_existing_file_named_by_a_str_is_not_opened_either(tmp_path, monkeypatch):
    (tmp_path / "corpus.txt").write_text("\n".join(SENTENCES), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TypeError, match=r"sentences: got a str \('corpus.txt'\).*"
                                        r"pathlib.Path\(...\) or corpus_file="):
        w2v("corpus.txt")
    np.testing.assert_array_equal(w2v(Path("corpus.txt")).wv.vectors,
                                  w2v(None, corpus_file="corpus.txt").wv.vectors)


def test_a_long_text_is_not_echoed():
    text = " ".join(SENTENCES) * 10
    with pytest.raises(TypeError) as info:
        w2v(text)
    msg = str(info.value)
    assert len(msg) < 300
    assert f"({len(text):,} characters)" in msg
    assert text[:41] not in msg


def test_a_list_of_paths_is_a_list_of_sentences():
    # two one-word "sentences", not two files: refused as there is nothing to learn
    with pytest.raises(ValueError, match="none of the 2 sentences"):
        w2v(["a.txt", "b.txt"])


def test_path_and_corpus_file_and_lists_agree(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("\n".join(SENTENCES), encoding="utf-8")
    want = w2v().wv.vectors
    for got in (w2v(path), w2v(None, corpus_file=str(path)),
                msopt.Word2Vec(dim=8, min_count=1, epochs=1, threads=1, seed=1)
                .build_vocab(corpus_file=path).train(corpus_file=path)):
        np.testing.assert_array_equal(got.wv.vectors, want)
    with pytest.raises(TypeError, match="sentences, corpus_file: pass one"):
        w2v(SENTENCES, corpus_file=path)
    with pytest.raises(TypeError, match="^corpus_file: expected a file path"):
        w2v(None, corpus_file=3)
    with pytest.raises(TypeError, match="^corpus_file: expected a file path"):
        msopt.Word2Vec().build_vocab(corpus_file=3)
    assert "corpus_file" not in msopt.Word2Vec().get_params()


def test_doc2vec_reads_a_path_as_tagged_lines(tmp_path):
    path = tmp_path / "docs.txt"
    path.write_text("\n".join(SENTENCES), encoding="utf-8")
    opts = dict(dim=8, min_count=1, epochs=1, threads=1, seed=1)
    a = msopt.Doc2Vec(path, **opts)
    b = msopt.Doc2Vec([(s.split(), [i]) for i, s in enumerate(SENTENCES)], **opts)
    c = msopt.Doc2Vec(corpus_file=str(path), **opts)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    np.testing.assert_array_equal(a.vectors, c.vectors)
    assert a.dv.index_to_key == list(range(len(SENTENCES)))


def test_language_model_takes_a_str_as_the_text(tmp_path, monkeypatch):
    text = "the cat sat on the mat. the dog sat on the log.\n" * 20
    lm = msopt.LanguageModel(context=4, dim=8, hidden=16, epochs=1, threads=1, seed=0)
    lm.fit(text)
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert lm.perplexity("t.txt") != lm.perplexity(Path("t.txt"))  # the name, not the file
    assert lm.perplexity(Path("t.txt")) == lm.perplexity(text)


# -- 3. values that train nothing, and a model used before fit ----------------------------
@pytest.mark.parametrize("negative", [0, -1])
def test_negative_below_one_is_refused(negative):
    with pytest.raises(ValueError, match="negative: 1 <= negative <= 1000.*no hierarchical "
                                         "softmax"):
        msopt.Word2Vec(negative=negative)
    model = w2v()
    before = pickle.dumps(model)
    with pytest.raises(ValueError, match="negative"):
        model.set_params(negative=negative).train(SENTENCES)
    model.set_params(negative=5)
    assert pickle.dumps(model) == before


def test_zero_epochs_are_refused():
    with pytest.raises(ValueError, match="epochs: must be >= 1, got 0"):
        msopt.Word2Vec(epochs=0)
    with pytest.raises(ValueError, match="epochs: must be >= 1, got 0"):
        w2v().train(SENTENCES, epochs=0)


@pytest.mark.parametrize("name", ["wv", "vocab", "syn1neg", "loss_history_",
                                  "train_seconds_"])
def test_fitted_attributes_raise_not_fitted(name):
    with pytest.raises(msopt.NotFittedError, match="Word2Vec instance is not fitted"):
        getattr(msopt.Word2Vec(), name)
    assert not hasattr(msopt.Word2Vec(), name)
    getattr(w2v(), name)
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        _ = msopt.Word2Vec().nonsense


def test_pickles_of_public_tables_still_load():
    model = w2v()
    state = dict(model.__dict__)
    state["vocab"], state["syn1neg"] = state.pop("_vocab"), state.pop("_syn1neg")
    old = msopt.Word2Vec.__new__(msopt.Word2Vec)
    old.__setstate__(state)
    assert old.vocab.words == model.vocab.words
    np.testing.assert_array_equal(old.syn1neg, model.syn1neg)


def test_a_long_unknown_word_is_not_echoed():
    with pytest.raises(KeyError) as info:
        _ = w2v().wv["the cat " * 100]
    assert "(800 characters)" in str(info.value)
    assert len(str(info.value)) < 120


def test_save_after_build_vocab_alone(tmp_path):
    model = msopt.Word2Vec(dim=4, min_count=1, threads=1).build_vocab(SENTENCES)
    with pytest.raises(msopt.NotFittedError):
        _ = model.loss_history_
    assert repr(model).endswith("vocab=10 words, not trained)")
    model.save(tmp_path / "m.npz")
    back = msopt.Word2Vec.load(tmp_path / "m.npz")
    assert back.loss_history_ == []
    np.testing.assert_array_equal(back.wv.vectors, model.wv.vectors)


# -- 4. byte-order marks and bytes that are not UTF-8 -------------------------------------
def test_a_byte_order_mark_is_dropped_by_every_reader(tmp_path):
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbf" + "\n".join(SENTENCES).encode("utf-8"))
    assert next(iter_lines(bom)) == "the cat sat on the mat\n"
    assert Vocabulary(min_count=1).fit(bom).words == Vocabulary(min_count=1).fit(
        SENTENCES).words
    np.testing.assert_array_equal(w2v(bom).wv.vectors, w2v().wv.vectors)
    assert msopt.Doc2Vec(bom, min_count=1, threads=1).vocab.words[0] == "the"
    lm = msopt.LanguageModel(context=4, dim=8, hidden=16, epochs=1, threads=1, seed=0)
    lm.fit(bom)
    assert "\ufeff" not in lm.vocab_
    assert lm.perplexity(bom) == lm.perplexity("\n".join(SENTENCES))
    kv = w2v().wv
    q = tmp_path / "q.txt"
    q.write_bytes(b"\xef\xbb\xbf: family\nthe cat the cat\n")
    assert kv.evaluate_word_analogies(q)[1][0]["section"] == "family"


def test_errors_is_accepted_where_the_message_suggests_it(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes("\n".join(SENTENCES).encode("utf-8") + b"\nthe caf\xe9 sat\n")
    with pytest.raises(ValueError, match=r"bad.txt: line 91 is not UTF-8.*errors='replace'"
                                         r".*errors='ignore'"):
        w2v(bad)
    assert "caf\ufffd" in w2v(bad, errors="replace").vocab
    assert "caf" in w2v(bad, errors="ignore").vocab
    model = msopt.Word2Vec(dim=8, min_count=1, threads=1).build_vocab(bad, errors="replace")
    model.train(bad, errors="replace")
    assert "caf\ufffd" in msopt.Doc2Vec(bad, min_count=1, threads=1, errors="replace").vocab
    lm = msopt.LanguageModel(context=4, dim=8, hidden=16, epochs=1, threads=1, seed=0)
    with pytest.raises(ValueError, match="errors='replace'"):
        lm.fit(bad)
    assert "\ufffd" in lm.fit(bad, errors="replace").vocab_
    assert np.isfinite(lm.perplexity(bad, errors="ignore"))


@pytest.mark.parametrize(("errors", "exc"), [("bogus", ValueError), (None, TypeError),
                                             ("surrogateescape", ValueError)])
def test_errors_is_checked_before_reading(errors, exc):
    with pytest.raises(exc, match="^errors: expected"):
        w2v(errors=errors)
    with pytest.raises(exc, match="^errors: expected"):
        msopt.Word2Vec().build_vocab(SENTENCES, errors=errors)
    with pytest.raises(exc, match="errors: expected"):
        msopt.Doc2Vec([["a", "b"]], errors=errors)
    with pytest.raises(exc, match="errors: expected"):
        msopt.LanguageModel().fit("abc", errors=errors)
