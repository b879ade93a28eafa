"""Long training calls report between their native chunks: callbacks get a Progress record
on every model (a true return stops), verbose shows it, the "msopt" logger carries it at
INFO; Ctrl-C (a KeyboardInterrupt raised between chunks) leaves a consistent, usable model;
the loss history is per epoch, accumulated across training calls and reset by fit; and
msopt.plot draws the curves."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from sklearn import datasets

import msopt
from msopt import _progress, plot
from msopt._progress import ChunkSize, Progress, Tracker

WORDS = "the cat sat on a mat while dog ran to log and bird flew over tree".split()
RNG = np.random.default_rng(0)
CORPUS = [" ".join(RNG.choice(WORDS, size=int(RNG.integers(3, 12)))) for _ in range(300)]
LABELS = [len(t.split()) % 2 for t in CORPUS]
DOCS = [t.split() for t in CORPUS]
TEXT = "the cat sat on the mat. the dog sat on the log. a cat and a dog met on a mat.\n" * 30
A = ["a cat sat on the mat", "dogs bark at night", "the sun is hot", "I like green tea"] * 6
B = ["a cat is on a mat", "a dog barks at night", "the sun is warm", "she likes tea"] * 6


def _w2v(**kw):
    m = msopt.Word2Vec(dim=8, min_count=1, epochs=3, threads=1, seed=1, **kw)
    m._chunk_words = 100
    return m


def _clf(**kw):
    c = msopt.TextClassifier(dim=8, buckets=50, epochs=3, lr=0.3, threads=1, **kw)
    c._chunk_rows = 200
    return c


# Each model: (make(callbacks=..., verbose=...), train(model), unit, epochs).
MODELS = {
    "Word2Vec": (_w2v, lambda m: m.build_vocab(CORPUS).train(CORPUS), "words", 3),
    "TextClassifier": (_clf, lambda m: m.fit(CORPUS, LABELS), "documents", 3),
    "Doc2Vec": (lambda **kw: msopt.Doc2Vec(dim=8, min_count=1, epochs=3, threads=1, **kw),
                lambda m: m.build_vocab(DOCS).train(DOCS), "words", 3),
    "LanguageModel": (lambda **kw: msopt.LanguageModel(context=4, dim=8, hidden=16, epochs=3,
                                                       threads=1, **kw),
                      lambda m: m.fit(TEXT, validation=TEXT[:300]), "tokens", 3),
    "SentenceEncoder": (lambda **kw: msopt.SentenceEncoder(dim=8, epochs=3, threads=1, **kw),
                        lambda m: m.fit(A, B), "pairs", 3),
    "LogisticRegression": (lambda **kw: msopt.LogisticRegression(max_iter=3, tol=None,
                                                                 random_state=0, **kw),
                           lambda m: m.fit(*datasets.make_classification(
                               100, 4, random_state=0)), "rows", 3),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_callbacks_get_the_documented_record(name):
    make, train, unit, epochs = MODELS[name]
    seen: list[Progress] = []
    model = make(callbacks=[lambda m, p: seen.append(p)])
    train(model)
    assert seen
    for p in seen:
        assert isinstance(p, Progress)
        assert (p.model, p.unit, p.epochs) == (name, unit, epochs)
        assert 1 <= p.epoch <= epochs
        assert 0 <= p.seen <= p.total
        assert isinstance(p.loss, float)
        assert p.learning_rate >= 0
        assert p.per_second > 0
        assert p["loss"] == p.loss
        assert "epoch" in p
        assert 0 <= p.fraction <= 1
    assert [p.seen for p in seen] == sorted(p.seen for p in seen)
    assert seen[-1].epoch == epochs
    assert seen[-1].seen == seen[-1].total
    assert math.isfinite(seen[-1].loss)
    assert seen[-1].loss == pytest.approx(model.loss_history_[-1])
    if name == "LanguageModel":
        assert "val_perplexity" in seen[-1]
        assert seen[-1]["val_loss"] > 0


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_callback_returning_true_stops_the_training(name):
    make, train, _, epochs = MODELS[name]
    calls = []
    model = make(callbacks=[lambda m, p: calls.append(p) or True])
    train(model)
    assert len(calls) == 1
    assert len(model.loss_history_) < epochs or name == "LogisticRegression" and len(
        model.loss_history_) == 1


@pytest.mark.parametrize("name", sorted(MODELS))
def test_verbose_shows_the_progress(name, capsys, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "tqdm", None)  # the plain line
    make, train, _, epochs = MODELS[name]
    train(make(verbose=True))
    err = capsys.readouterr().err
    assert f"{name}: epoch {epochs}/{epochs}, 100.0%" in err
    assert err.endswith("\n")
    train(make())
    assert capsys.readouterr().err == ""


def test_verbose_rewrites_one_line_on_a_terminal(monkeypatch):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setitem(sys.modules, "tqdm", None)
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    _w2v(verbose=True).build_vocab(CORPUS).train(CORPUS)
    lines = term.getvalue().split("\n")
    assert len(lines) == 4  # one kept per epoch, then the end
    assert lines[0].count("\r") > 3  # rewritten in place within the epoch
    assert lines[2].rsplit("\r", 1)[-1].startswith("Word2Vec: epoch 3/3, 100.0%")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_logging_carries_the_reports_at_info(name, caplog):
    make, train, _, epochs = MODELS[name]
    with caplog.at_level(logging.INFO, logger="msopt"):
        train(make())
    messages = [r.getMessage() for r in caplog.records if r.name == "msopt"]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "msopt")
    for e in range(1, epochs + 1):  # every epoch's end is logged
        assert any(m.startswith(f"{name}: epoch {e}/{epochs}") for m in messages)
    assert "loss" in messages[-1]
    assert "lr" in messages[-1]
    assert "/s" in messages[-1]


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("bad", [lambda m, p: None, [1], "f"])
def test_bad_callbacks_and_verbose_are_named(name, bad):
    make, train, _, _ = MODELS[name]
    with pytest.raises(TypeError, match=r"^callbacks"):
        train(make(callbacks=bad))
    with pytest.raises((TypeError, ValueError), match="^verbose"):
        train(make(verbose=-1))


def _interrupt_after(n):
    calls = []

    def cb(model, p):
        calls.append(p)
        if len(calls) == n:
            raise KeyboardInterrupt

    return cb


def test_ctrl_c_leaves_word2vec_trained_so_far():
    model = _w2v(callbacks=[_interrupt_after(25)])  # in the second or third epoch
    model.build_vocab(CORPUS)
    before = model.wv.vectors.copy()
    with pytest.raises(KeyboardInterrupt):
        model.train(CORPUS)
    assert 1 <= len(model.loss_history_) < 3
    assert np.isfinite(model.wv.vectors).all()
    assert (model.wv.vectors != before).any()
    assert len(model.wv.most_similar("cat", topn=3)) == 3
    assert "trained" in repr(model)
    assert "not trained" not in repr(model)
    model.callbacks = None
    model.train(CORPUS)  # trains on
    assert len(model.loss_history_) >= 4


def test_ctrl_c_in_a_first_fit_leaves_a_usable_text_classifier():
    clf = _clf(callbacks=[_interrupt_after(5)])
    with pytest.raises(KeyboardInterrupt):
        clf.fit(CORPUS, LABELS)
    assert clf.calls_ == 1
    assert len(clf.loss_history_) < 3
    assert np.isfinite(clf.input_).all()
    assert clf.predict(CORPUS[:4]).shape == (4,)
    history = list(clf.loss_history_)
    clf.set_params(callbacks=[_interrupt_after(5)])
    with pytest.raises(KeyboardInterrupt):
        clf.partial_fit(CORPUS, LABELS)
    assert clf.calls_ == 2
    assert clf.loss_history_[:len(history)] == history
    assert clf.class_counts_.sum() == 2 * len(CORPUS)
    clf.set_params(callbacks=None)
    clf.partial_fit(CORPUS, LABELS)
    assert clf.calls_ == 3


def test_a_failing_callback_undoes_a_text_classifier_call():
    clf = _clf().fit(CORPUS, LABELS)
    before = (clf.input_.copy(), list(clf.loss_history_), clf.calls_)

    def boom(m, p):
        raise RuntimeError("boom")

    clf.set_params(callbacks=[boom])
    with pytest.raises(RuntimeError, match="boom"):
        clf.partial_fit(CORPUS, LABELS)
    np.testing.assert_array_equal(clf.input_, before[0])
    assert (clf.loss_history_, clf.calls_) == (before[1], before[2])
    with pytest.raises(RuntimeError, match="boom"):
        clf.fit(CORPUS, LABELS)
    np.testing.assert_array_equal(clf.input_, before[0])


def test_ctrl_c_leaves_the_language_model_usable():
    make, train, _, _ = MODELS["LanguageModel"]
    lm = make(callbacks=[_interrupt_after(2)])
    with pytest.raises(KeyboardInterrupt):
        train(lm)
    assert lm.stop_reason_ == "interrupted"
    assert math.isfinite(lm.perplexity(TEXT[:200]))


def test_loss_history_accumulates_and_fit_resets_it():
    m = _w2v().build_vocab(CORPUS).train(CORPUS)
    first = list(m.loss_history_)
    m.train(CORPUS, epochs=2)
    assert len(m.loss_history_) == 5
    assert m.loss_history_[:3] == first
    m.build_vocab(CORPUS)
    with pytest.raises(msopt.NotFittedError):
        m.loss_history_  # noqa: B018

    clf = _clf().fit(CORPUS, LABELS).partial_fit(CORPUS, LABELS)
    assert len(clf.loss_history_) == 6
    assert len(clf.fit(CORPUS, LABELS).loss_history_) == 3

    lm = MODELS["LanguageModel"][0]()
    lm.fit(TEXT).partial_fit(TEXT)
    assert len(lm.loss_history_) == 6
    assert lm.loss_history_ == [h["train_loss"] for h in lm.history_]
    assert len(lm.fit(TEXT).loss_history_) == 3

    X, y = datasets.make_classification(100, 4, random_state=0)
    est = msopt.LogisticRegression(max_iter=3, tol=None, random_state=0).fit(X, y)
    est.partial_fit(X, y)
    assert len(est.loss_history_) == 4
    assert len(est.fit(X, y).loss_history_) == 3
    with pytest.raises(msopt.NotFittedError):
        msopt.LogisticRegression().loss_history_  # noqa: B018


def test_models_with_callbacks_save_and_load(tmp_path):
    m = _w2v(callbacks=[lambda m, p: None], verbose=0).build_vocab(CORPUS).train(CORPUS)
    m.save(tmp_path / "w2v")
    back = msopt.Word2Vec.load(tmp_path / "w2v")
    assert back.callbacks is None
    assert back.loss_history_ == m.loss_history_
    clf = _clf(callbacks=[lambda m, p: None]).fit(CORPUS, LABELS)
    clf.save(tmp_path / "clf")
    assert msopt.TextClassifier.load(tmp_path / "clf").callbacks is None


def test_progress_record_and_tracker():
    p = Progress("M", 2, 3, 50, 100, "words", 1.5, 0.01, 1000.0, {"val_loss": 2.0})
    assert p["val_loss"] == 2.0
    assert p["seen"] == 50
    assert p.fraction == 0.5
    with pytest.raises(KeyError):
        p["nope"]
    assert p.message() == ("M: epoch 2/3, 50.0% of 100 words, loss 1.5, lr 0.01, 1,000 words/s"
                           ", val_loss 2")
    t = Tracker(object(), epochs=1, total=10, unit="rows")
    assert "Tracker(object" in repr(t)
    assert t.report(1, 10, 0.5, 0.1) is False
    assert _progress.check_verbose(True) == 1
    with pytest.raises(TypeError, match="verbose"):
        _progress.check_verbose("loud")


def test_chunk_size_fixed_or_timed():
    fixed = ChunkSize(100, 1 << 16)
    fixed.start()
    fixed.done()
    assert int(fixed) == 100
    assert "fixed" in repr(fixed)
    timed = ChunkSize(None, 1000, seconds=10.0)
    timed.start()
    timed.done()  # far quicker than 10 s: grows, at most 4 times
    assert int(timed) == 4000
    slow = ChunkSize(None, 1 << 20, seconds=1e-9)
    slow.start()
    slow.done()
    assert int(slow) == 1 << 18


# -- msopt.plot ---------------------------------------------------------------------------
def test_curves_of_every_model():
    for name, (make, train, _, epochs) in MODELS.items():
        model = make()
        train(model)
        c = plot.curves(model)
        assert len(c["loss"]) == epochs, name
        if name == "LanguageModel":
            assert set(c) == {"loss", "val_loss", "val_perplexity"}
    with pytest.raises(msopt.NotFittedError):
        plot.curves(_w2v().build_vocab(CORPUS))
    with pytest.raises(TypeError, match="model"):
        plot.curves(object())


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    make, train, _, _ = MODELS["LanguageModel"]
    lm = make()
    train(lm)
    ax = plot.history(lm, path=tmp_path / "lm.png")
    assert (tmp_path / "lm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ax.get_title() == "LanguageModel"
    assert [line.get_label() for line in ax.get_lines()] == ["training loss"]
    clf = _clf().fit(CORPUS, LABELS)
    plot.history(clf, path=tmp_path / "clf.png", title="fastText")
    assert (tmp_path / "clf.png").stat().st_size > 1000


def test_a_real_ctrl_c_stops_word2vec_within_a_second():
    """SIGINT while the native loop runs: Python gets control back at the chunk's end."""
    import os
    import signal
    import threading
    import time

    m = msopt.Word2Vec(dim=16, min_count=1, epochs=20000, threads=1, seed=1)  # ~ minutes
    m.build_vocab(CORPUS)
    sent = []

    def interrupt():
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(0.5, interrupt)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            m.train(CORPUS)
        late = time.perf_counter() - sent[0]
    finally:
        timer.cancel()
    assert late < 2.0  # a chunk is about 0.4 s; slack for a busy machine
    assert np.isfinite(m.wv.vectors).all()
    assert len(m.loss_history_) > 0
