"""Answer selection: rank candidate sentences for a question by a logistic regression over
lexical overlap features and, when given, a sentence encoder's and a Doc2Vec model's
cosines.

Model file format (``AnswerRanker.save``): a NumPy ``.npz`` archive, no pickled objects:

    format          str     "msopt-answerranker 1"
    params          str     the hyperparameters, as JSON (encoder, doc2vec and callbacks left
                            out; a file without "pairwise" was trained with pairwise=False)
    features        uint8   the feature names, UTF-8, joined by "\\n", in column order
    mean, scale     float64 (F,) the standardization of each feature
    coef            float64 (F,) the weights of the standardized features
    intercept       float64 ()
    df_words        uint8   the IDF corpus's words, UTF-8, joined by "\\n"
    df_counts       int64   (V,) their document frequencies
    df_docs         int64   () the documents counted
    n_questions     int64   () the training questions
    loss_history    float64 the regression's objective at each check (older files: none)
    encoder         uint8   the encoder's own saved file, byte for byte (only with one)
    encoder_class   str     "module:Class" of the encoder, an msopt class with load()
    doc2vec, doc2vec_class  the same for the Doc2Vec model (only with one)
    staged          str     (only if set_params set some aside for the next fit) JSON
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from msopt._api import (
    ParamsMixin,
    check_bool,
    check_int,
    check_memory,
    check_number,
    check_seed,
    keyword_aliases,
    not_fitted,
    refits,
)
from msopt._io import atomic_write, check_path, pack_words, read_npz, unpack_words
from msopt._progress import check_callbacks, check_verbose, saved_params, set_staged, staged_member
from msopt.exceptions import NotFittedError
from msopt.text.lexical import (
    FEATURES,
    DocumentFrequencies,
    pair_features,
    tokenize,
)

__all__ = ["AnswerRanker"]

_FORMAT = "msopt-answerranker 1"
_MEMBERS = {"format", "params", "features", "mean", "scale", "coef", "intercept", "df_words",
            "df_counts", "df_docs", "n_questions"}


def _texts(name: str, value: Any) -> list[str]:
    """A list of str (a list, tuple or 1-D array of them)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise TypeError(f"{name}: expected a list of str, got {type(value).__name__}")
    if isinstance(value, np.ndarray) and value.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D list of str, got an array of shape "
                         f"{value.shape}")
    items = list(value)
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise TypeError(f"{name}[{i}]: expected a str, got {type(t).__name__}")
    return [str(t) for t in items]


def _labels(value: Any, n: int) -> np.ndarray:
    """0/1 labels (ints, bools or floats equal to 0 or 1), one per pair, as int64."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"labels: expected an array of 0/1 labels, got {type(value).__name__}")
    try:
        a = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"labels: expected an array of 0/1 labels ({e})") from None
    if a.dtype.kind not in "biuf":
        raise TypeError(f"labels: expected an array of 0/1 labels, got dtype {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"labels: expected a 1-D array, got shape {a.shape}")
    if len(a) != n:
        raise ValueError(f"labels: length {len(a)} does not match questions' length {n}")
    bad = np.flatnonzero((a != 0) & (a != 1))
    if len(bad):
        raise ValueError(f"labels: expected 0 or 1, got {a[bad[0]]!r} at index {bad[0]}")
    return a.astype(np.int64)


def _group_codes(groups: Any, questions: list[str]) -> np.ndarray:
    """One int code per pair, equal for the candidates of one question: from ``groups``
    (any hashable ids, one per pair) or else from the question texts."""
    ids: Sequence[Any]
    if groups is None:
        ids = questions
    else:
        if isinstance(groups, (str, bytes)) or not isinstance(groups, (Sequence, np.ndarray)):
            raise TypeError(f"groups: expected one question id per pair, got "
                            f"{type(groups).__name__}")
        ids = list(np.asarray(groups).tolist()) if isinstance(groups, np.ndarray) else list(groups)
        if len(ids) != len(questions):
            raise ValueError(f"groups: length {len(ids)} does not match questions' length "
                             f"{len(questions)}")
    codes: dict[Any, int] = {}
    try:
        return np.array([codes.setdefault(g, len(codes)) for g in ids], np.int64)
    except TypeError:
        raise TypeError("groups: question ids must be hashable (ints or str)") from None


def _is_fitted(model: Any, name: str) -> bool:
    """Whether ``model`` answers ``similarity`` yet (False: it raises NotFittedError)."""
    if not callable(getattr(model, "similarity", None)):
        raise TypeError(f"{name}: expected an object with similarity(a_texts, b_texts), got "
                        f"{type(model).__name__}")
    try:
        model.similarity(["a"], ["a"])
    except NotFittedError:
        return False
    return True


def _unit_rows(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)


def _pair_differences(Z: np.ndarray, y: np.ndarray, codes: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Within-question differences of the rows of ``Z``: the k-th (correct, wrong) pair of
    candidates of one question gives ``Z[correct] - Z[wrong]`` labelled 1 for even k, its
    negation labelled 0 for odd k (without intercept, the same logistic loss either way)."""
    order = np.argsort(codes, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)
    diffs = [(Z[m[y[m] == 1]][:, None, :] - Z[m[y[m] == 0]][None, :, :]).reshape(-1, Z.shape[1])
             for m in groups]
    D = np.vstack(diffs)
    labels = (np.arange(len(D)) % 2 == 0).astype(np.int64)
    D[labels == 0] *= -1
    return D, labels


def _class_path(obj: Any, name: str) -> str:
    cls = type(obj)
    if not cls.__module__.startswith("msopt.") or not callable(getattr(cls, "load", None)) \
            or not callable(getattr(obj, "save", None)):
        raise TypeError(f"{name}: a {cls.__name__} cannot be saved inside an AnswerRanker file "
                        "(only msopt models with save() and load() can); pickle the ranker "
                        "instead")
    return f"{cls.__module__}:{cls.__qualname__}"


def _model_bytes(obj: Any) -> np.ndarray:
    """The file ``obj.save`` writes, as a uint8 array."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.npz")
        obj.save(path)
        with open(path, "rb") as f:
            return np.frombuffer(f.read(), np.uint8)


def _model_from_bytes(data: np.ndarray, path: str, file: str, member: str) -> Any:
    module, _, qualname = path.partition(":")
    if not module.startswith("msopt.") or not qualname:
        raise ValueError(f"{file}: {member}_class: expected an msopt class, got {path!r}")
    try:
        cls = getattr(importlib.import_module(module), qualname)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"{file}: {member}_class: {path!r} cannot be imported ({e})") from None
    if not (isinstance(cls, type) and cls.__module__.startswith("msopt.")
            and callable(getattr(cls, "load", None))):
        raise ValueError(f"{file}: {member}_class: {path!r} is not an msopt model class")
    if data.dtype != np.uint8 or data.ndim != 1:
        raise ValueError(f"{file}: {member}: expected a 1-D uint8 array")
    with tempfile.TemporaryDirectory() as tmp:
        inner = os.path.join(tmp, "model.npz")
        with open(inner, "wb") as f:
            f.write(data.tobytes())
        try:
            return cls.load(inner)  # type: ignore[attr-defined]
        except Exception as e:  # whatever the inner file's damage, one documented error
            raise ValueError(f"{file}: {member}: {str(e).replace(inner, 'the saved model')}"
                             ) from None


class AnswerRanker(ParamsMixin):
    """Answer selection by a logistic regression over lexical and semantic evidence.

    Each (question, candidate) pair gets the features of :data:`msopt.text.lexical.FEATURES`
    (word overlap with stop words removed, its IDF-weighted sum, BM25 with the question's
    candidates as the corpus, coverage, stem and bigram overlap, the candidate's length, how
    close together the matched words are, matched capitalized words, the numbers, dates and
    names the candidate adds, also per question type, and how near the nearest one of the
    type the question asks for lies to a matched word), then the cosine of the encoder and of
    the Doc2Vec vectors when given.  :class:`msopt.LogisticRegression` learns their
    weights, each feature standardized by its training mean and standard deviation (a
    constant feature gets scale 1, so weight 0 in effect).  By default it learns from the
    labelled pairs and a pair's score is its log-odds of being correct; with ``pairwise=True``
    it learns from within-question differences and the difference of two candidates'
    scores is the log-odds that the first is the better answer.

    Questions and their candidates: ``fit`` and ``score`` take one row per (question,
    candidate) pair.  The candidates of one question are the pairs with the same question
    text, or the same ``groups`` id when given.  BM25 reads a question's candidates in the
    same call as its corpus, so a pair's score depends on the other candidates given with it
    (a ranking of them is what it is for).

    IDF: the document frequencies are counted once, in ``fit``, over the distinct candidate
    sentences of the training pairs; they stay fixed after that.  A word they never saw gets
    the largest IDF, ``ln(N + 1) + 1`` (rare words are the informative ones).

    Parameters
    ----------
    encoder : object, optional
        A sentence encoder whose ``similarity(a_texts, b_texts)`` cosine becomes a feature,
        such as :class:`msopt.models.sentence_encoder.SentenceEncoder`.  A fitted one is
        used as it is (and not changed).  One that is not fitted yet (its ``similarity``
        raises NotFittedError) is trained by ``fit`` on the labelled pairs
        (``fit(questions, answers, labels=labels)``), as a copy made from its
        ``get_params()``; the regression then learns its weight from cross-fitted cosines
        (``folds`` copies, each trained without one fold of the questions, score that
        fold), since cosines of pairs the encoder was trained on would look better than
        they will at prediction time.  None (the default): lexical features only.
    doc2vec : object, optional
        A fitted model with ``infer_vectors(list_of_token_lists) -> (vectors, info)``, such
        as :class:`msopt.Doc2Vec`; the cosine of the inferred vectors of the question and
        the candidate becomes a feature.  Their tokens are :func:`msopt.text.lexical.tokenize`'s
        (lower-cased), less the words outside the model's vocabulary (when it has a ``wv``
        that answers ``word in wv``); a text left with no token gets cosine 0.
    C : float, default 1.0
        Inverse L2 regularization strength of the logistic regression (scikit-learn's C).
    k1, b : float, default 1.2 and 0.75
        BM25's term-frequency saturation and length normalization.
    pairwise : bool, default False
        Train the regression on within-question differences of the standardized features
        (each correct candidate against each wrong one of the same question, without
        intercept; ``C`` then counts those pairs as its samples), so that it learns what
        ranks the candidates of a question rather than what tells the correct pairs of all
        questions apart; questions without both a correct and a wrong candidate add
        nothing.  False: train on the pairs and their 0/1 labels, with an intercept.  On
        TrecQA's clean dev set pairwise training ranked worse (MAP 0.756 against 0.778).
    folds : int, default 3
        Folds for the cross-fitted cosines of an encoder trained by ``fit`` (>= 2).
    seed : int, default 0
        Seeds the regression's minibatch order and the folds (alias ``random_state``).
    callbacks : list of callables, optional
        ``f(model, progress) -> bool``, handed to the models ``fit`` trains (the encoder
        copies, then the logistic regression): each calls them with an
        :class:`msopt.Progress` record whose ``model`` names it; True stops that model's
        training there.
    verbose : bool or int, default 0
        Show the progress of the models ``fit`` trains (a tqdm bar when installed, else a
        line on stderr); the ``"msopt"`` logger gets the same reports at INFO.

    Attributes
    ----------
    feature_names_ : list of str
        The features, in column order.
    coef_ : ndarray of float64
        The weight of each standardized feature.
    intercept_ : float
        0.0 when trained ``pairwise`` (differences have no intercept).
    mean_, scale_ : ndarray of float64
        Each feature's training mean and scale.
    df_ : msopt.text.lexical.DocumentFrequencies
        The document frequencies the IDF reads.
    encoder_ : object or None
        The encoder used: ``encoder`` itself when it came fitted, else the copy ``fit``
        trained.
    n_questions_ : int
        The training questions.
    loss_history_ : list of float
        The logistic regression's objective at each of its checks.

    Examples
    --------
    >>> from msopt.models.answer_ranker import AnswerRanker
    >>> qs = ["Who wrote Hamlet ?"] * 3 + ["When did the war end ?"] * 3
    >>> ans = ["Hamlet was written by Shakespeare .", "Hamlet is a play .", "It rained .",
    ...        "The war ended in 1945 .", "The war was long .", "Peace is good ."]
    >>> ranker = AnswerRanker().fit(qs * 5, ans * 5, [1, 0, 0, 1, 0, 0] * 5)
    >>> ranker.rank("When did the storm end ?",
    ...             ["The storm was long .", "The storm ended in 1990 .", "No ."])
    array([1, 0, 2])
    >>> ranker
    AnswerRanker(features=31, questions=2, fitted)
    """

    feature_names_: list[str]
    coef_: np.ndarray
    intercept_: float
    mean_: np.ndarray
    scale_: np.ndarray
    df_: DocumentFrequencies
    encoder_: Any
    n_questions_: int

    # what the fitted coefficients' features are computed with (BM25's k1 and b, pairs)
    _structural = ("k1", "b", "pairwise")

    def _fitted_marker(self) -> Any:
        return self.__dict__.get("coef_")

    @keyword_aliases(random_state="seed")
    def __init__(self, encoder: Any = None, doc2vec: Any = None, *, C: float = 1.0,
                 k1: float = 1.2, b: float = 0.75, pairwise: bool = False, folds: int = 3,
                 seed: int = 0, callbacks: Any = None, verbose: int = 0) -> None:
        self.encoder = encoder
        self.doc2vec = doc2vec
        self.C = C
        self.k1 = k1
        self.b = b
        self.pairwise = pairwise
        self.folds = folds
        self.seed = seed
        self.callbacks = callbacks
        self.verbose = verbose

    def _check_params(self) -> None:
        check_number("C", self.C, lo=0, strict=True)
        check_number("k1", self.k1, lo=0)
        check_number("b", self.b, lo=0, hi=1)
        check_bool("pairwise", self.pairwise)
        check_int("folds", self.folds, 2, hi=1000)
        check_seed("seed", self.seed)
        check_callbacks(self.callbacks)
        check_verbose(self.verbose)
        if self.encoder is not None:
            _is_fitted(self.encoder, "encoder")
        if self.doc2vec is not None and not callable(getattr(self.doc2vec, "infer_vectors",
                                                             None)):
            raise TypeError(f"doc2vec: expected an object with infer_vectors(token_lists), "
                            f"got {type(self.doc2vec).__name__}")

    def _repr_state(self) -> list[str]:
        if not hasattr(self, "coef_"):
            return []
        return [f"features={len(self.coef_)}", f"questions={self.n_questions_:,}", "fitted"]

    def __repr__(self) -> str:
        parts = []
        if self.encoder is not None:
            parts.append(f"encoder={type(self.encoder).__name__}")
        if self.doc2vec is not None:
            parts.append(f"doc2vec={type(self.doc2vec).__name__}")
        for name, default in (("C", 1.0), ("k1", 1.2), ("b", 0.75), ("pairwise", False),
                              ("folds", 3), ("seed", 0)):
            value = getattr(self, name)
            if not (type(value) is type(default) and value == default):
                parts.append(f"{name}={value!r}")
        return f"AnswerRanker({', '.join(parts + self._repr_state())})"

    # -- features ---------------------------------------------------------------------------
    @staticmethod
    def _names(encoder: Any, doc2vec: Any) -> list[str]:
        return (list(FEATURES) + (["encoder_cosine"] if encoder is not None else [])
                + (["doc2vec_cosine"] if doc2vec is not None else []))

    def _doc2vec_cosine(self, doc2vec: Any, questions: list[str], answers: list[str]
                        ) -> np.ndarray:
        """The cosine of the inferred vectors of each pair's texts: each distinct text
        inferred once, from its tokens the model knows (when it has a ``wv`` that answers
        ``word in wv``); a text left with no token gets the zero vector, so cosine 0."""
        texts = list(dict.fromkeys(questions + answers))
        wv = getattr(doc2vec, "wv", None)
        docs = [tokenize(t) for t in texts]
        if wv is not None and hasattr(type(wv), "__contains__"):
            docs = [[w for w in d if w in wv] for d in docs]
        rows = [i for i, d in enumerate(docs) if d]
        unit = np.zeros((len(texts), 1))
        if rows:
            result = doc2vec.infer_vectors([docs[i] for i in rows])
            vectors = np.asarray(result[0] if isinstance(result, tuple) else result)
            if vectors.ndim != 2 or vectors.shape[0] != len(rows):
                raise ValueError(f"doc2vec: infer_vectors returned an array of shape "
                                 f"{vectors.shape} for {len(rows)} documents")
            unit = np.zeros((len(texts), vectors.shape[1]))
            unit[rows] = _unit_rows(vectors)
        row = {t: i for i, t in enumerate(texts)}
        qi = np.array([row[t] for t in questions], np.int64)
        ai = np.array([row[t] for t in answers], np.int64)
        return np.einsum("ij,ij->i", unit[qi], unit[ai])

    def _features(self, questions: list[str], answers: list[str], codes: np.ndarray,
                  df: DocumentFrequencies, encoder_cos: np.ndarray | None, doc2vec: Any
                  ) -> np.ndarray:
        cols = [pair_features(questions, answers, codes, df, float(self.k1), float(self.b))]
        if encoder_cos is not None:
            cols.append(np.asarray(encoder_cos, np.float64).reshape(-1, 1))
        if doc2vec is not None:
            cols.append(self._doc2vec_cosine(doc2vec, questions, answers).reshape(-1, 1))
        X = np.hstack(cols)
        if not np.isfinite(X).all():
            raise ValueError("the encoder or doc2vec gave a NaN or infinite cosine")
        return X

    def _encoder_cosines(self, questions: list[str], answers: list[str], labels: np.ndarray,
                         codes: np.ndarray) -> tuple[Any, np.ndarray | None]:
        """The encoder to keep and the cosines the regression trains on."""
        enc = self.encoder
        if enc is None:
            return None, None
        if _is_fitted(enc, "encoder"):
            return enc, np.asarray(enc.similarity(questions, answers), np.float64)

        def trained(rows: np.ndarray) -> Any:
            copy = type(enc)(**enc.get_params())
            if "callbacks" in copy.get_params():  # the ranker's reporting, where it takes it
                copy.set_params(callbacks=self.callbacks, verbose=self.verbose)
            return copy.fit([questions[i] for i in rows], [answers[i] for i in rows],
                            labels=labels[rows])

        n_groups = int(codes.max()) + 1
        k = min(int(self.folds), n_groups)
        fold_of_group = np.random.default_rng(int(self.seed)).permutation(n_groups) % k
        fold = fold_of_group[codes]
        cos = np.zeros(len(questions))
        for f in range(k):
            out = np.flatnonzero(fold == f)
            inside = np.flatnonzero(fold != f)
            if len(np.unique(labels[inside])) < 2:  # a fold without both labels: no model
                continue
            model = trained(inside)
            cos[out] = model.similarity([questions[i] for i in out],
                                        [answers[i] for i in out])
        return trained(np.arange(len(questions))), cos

    # -- training and prediction ------------------------------------------------------------
    @refits
    def fit(self, questions: Sequence[str], answers: Sequence[str], labels: Any,
            groups: Any = None) -> AnswerRanker:
        """Learn the features' weights from labelled pairs: ``answers[i]`` is a candidate
        for ``questions[i]``, ``labels[i]`` 1 if it answers it, else 0.  At least one
        question needs a correct (1) and one pair a wrong (0) answer.  With
        ``pairwise=True``, at least one question needs both.

        Parameters
        ----------
        questions : sequence of str
            The question of each pair (a list, tuple or 1-D array of str).
        answers : sequence of str
            The candidate answer of each pair, one per ``questions`` entry.
        labels : array_like of 0/1
            One label per pair: ints, bools or floats equal to 0 or 1.
        groups : sequence of hashable, optional
            One id per pair (ints or str, say) that says which pairs share a question;
            default: the same question text.

        Returns
        -------
        AnswerRanker
            self; a rejected call changes nothing.
        """
        from msopt.linear_model.estimators import LogisticRegression

        self._check_params()
        qs = _texts("questions", questions)
        ans = _texts("answers", answers)
        if len(ans) != len(qs):
            raise ValueError(f"answers: length {len(ans)} does not match questions' length "
                             f"{len(qs)}")
        y = _labels(labels, len(qs))
        codes = _group_codes(groups, qs)
        if len(qs) == 0:
            raise ValueError("questions: no pairs to train on")
        if not y.any():
            raise ValueError("labels: no question has a correct (1) answer; a ranking needs "
                             "at least one")
        if y.all():
            raise ValueError("labels: every answer is labelled 1; the ranker needs wrong (0) "
                             "answers too")
        pairwise = bool(self.pairwise)
        if pairwise:
            pos = np.bincount(codes, y)
            n_pairs = int((pos * (np.bincount(codes) - pos)).sum())
            if n_pairs == 0:
                raise ValueError("labels: no question has both a correct (1) and a wrong (0) "
                                 "answer; pairwise training needs one (or pairwise=False)")
            names = self._names(self.encoder, self.doc2vec)
            check_memory("AnswerRanker", f"{n_pairs:,} x {len(names)} float64 feature "
                         "differences", 8 * n_pairs * len(names), 2,
                         what="pairwise training needs",
                         hint="Use pairwise=False, or fewer candidates per question.")
        df = DocumentFrequencies().fit(tokenize(a) for a in dict.fromkeys(ans))
        encoder, cos = self._encoder_cosines(qs, ans, y, codes)
        X = self._features(qs, ans, codes, df, cos, self.doc2vec)
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[scale == 0] = 1.0
        clf = LogisticRegression(C=float(self.C), random_state=int(self.seed), batch_size=None,
                                 learning_rate=0.1, max_iter=2000, tol=1e-7,
                                 fit_intercept=not pairwise,
                                 # the pairwise objective is flat; Adam's first overshoot
                                 # must not pass for convergence
                                 n_iter_no_change=20 if pairwise else 5,
                                 callbacks=self.callbacks, verbose=self.verbose)
        Z = (X - mean) / scale
        clf.fit(*(_pair_differences(Z, y, codes) if pairwise else (Z, y)))
        # installed only now that nothing can fail
        self.feature_names_ = self._names(encoder, self.doc2vec)
        self.coef_ = np.asarray(clf.coef_, np.float64).reshape(-1).copy()
        self.intercept_ = float(np.asarray(clf.intercept_).reshape(-1)[0])
        self.mean_, self.scale_ = mean, scale
        self.df_ = df
        self.encoder_ = encoder
        self.doc2vec_ = self.doc2vec  # the one fitted with, whatever set_params does later
        self.n_questions_ = int(codes.max()) + 1
        self.loss_history_ = list(clf.loss_history_)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise not_fitted(self, "call fit() (or load())")

    def features(self, questions: Sequence[str], answers: Sequence[str],
                 groups: Any = None) -> np.ndarray:
        """The raw (not standardized) features of each pair, one row per pair, columns as
        ``feature_names_``.

        Parameters
        ----------
        questions : sequence of str
            The question of each pair (a list, tuple or 1-D array of str).
        answers : sequence of str
            The candidate answer of each pair, one per ``questions`` entry.
        groups : sequence of hashable, optional
            One id per pair that says which pairs share a question, as in :meth:`fit`;
            default: the same question text.  BM25 takes the candidates of a question given
            in this call as its corpus.

        Returns
        -------
        ndarray of float64, shape (len(questions), len(feature_names_))
        """
        self._check_fitted()
        qs = _texts("questions", questions)
        ans = _texts("answers", answers)
        if len(ans) != len(qs):
            raise ValueError(f"answers: length {len(ans)} does not match questions' length "
                             f"{len(qs)}")
        codes = _group_codes(groups, qs)
        cos = None
        if self.encoder_ is not None:
            cos = (np.asarray(self.encoder_.similarity(qs, ans), np.float64) if qs
                   else np.zeros(0))
        if not qs:
            return np.zeros((0, len(self.coef_)))
        return self._features(qs, ans, codes, self.df_, cos, self.doc2vec_)

    def score(self, questions: Sequence[str], answers: Sequence[str],
              groups: Any = None) -> np.ndarray:
        """The score of each pair, float64; higher ranks first.  By default a score is the
        pair's log-odds of being correct; trained ``pairwise``, the difference of two
        candidates' scores is the log-odds that the first is the better answer.

        Parameters
        ----------
        questions : sequence of str
            The question of each pair (a list, tuple or 1-D array of str).
        answers : sequence of str
            The candidate answer of each pair, one per ``questions`` entry.
        groups : sequence of hashable, optional
            One id per pair that says which pairs share a question, as in :meth:`fit`;
            default: the same question text.

        Returns
        -------
        ndarray of float64, shape (len(questions),)
        """
        X = self.features(questions, answers, groups)
        Z = (X - self.mean_) / self.scale_
        # Z @ coef_ one column at a time, so that a row's score is the same sequence of
        # IEEE operations on that row's values alone: equal rows get bit-equal scores, at
        # any batch size and position (a BLAS product or a SIMD reduction may block, and
        # so round, rows differently), and rank() keeps tied candidates in order.
        total = np.zeros(len(Z))
        term = np.empty(len(Z))
        for j, c in enumerate(self.coef_.tolist()):
            np.multiply(Z[:, j], c, out=term)
            total += term
        return total + self.intercept_

    def rank(self, question: str, candidates: Sequence[str]) -> np.ndarray:
        """The indices of ``candidates``, best answer first (ties keep the given order).

        Parameters
        ----------
        question : str
            The question.
        candidates : sequence of str
            Its candidate answers (a list, tuple or 1-D array of str), scored together as
            one question's candidates.

        Returns
        -------
        ndarray of int64, shape (len(candidates),)
            Indices into ``candidates``, best answer first.
        """
        if not isinstance(question, str):
            raise TypeError(f"question: expected a str, got {type(question).__name__}")
        cands = _texts("candidates", candidates)
        scores = self.score([question] * len(cands), cands)
        return np.argsort(-scores, kind="stable").astype(np.int64)

    # -- files and pickling -----------------------------------------------------------------
    def _file_params(self) -> dict[str, Any]:
        return {k: v for k, v in saved_params(self).items() if k not in ("encoder", "doc2vec")}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to ``path`` (exactly; no extension added), one ``.npz`` file in
        the format of the module docstring, replaced atomically.  The encoder and the
        Doc2Vec model are saved inside it, as the files their own ``save`` writes.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (a path, not an open file).

        Raises
        ------
        TypeError
            If the encoder or the Doc2Vec model is not an msopt model with
            ``save``/``load`` (pickle the ranker instead).
        """
        self._check_fitted()
        self._check_params()  # a file that load would refuse is not written
        target = check_path(path)
        arrays: dict[str, np.ndarray] = {
            "format": np.array(_FORMAT), "params": np.array(json.dumps(self._file_params())),
            "features": pack_words(self.feature_names_), "mean": self.mean_,
            "scale": self.scale_, "coef": self.coef_,
            "intercept": np.array(self.intercept_, np.float64),
            "df_words": pack_words(self.df_.words), "df_counts": self.df_.counts,
            "df_docs": np.array(self.df_.n_docs, np.int64),
            "n_questions": np.array(self.n_questions_, np.int64),
            "loss_history": np.asarray(getattr(self, "loss_history_", []), np.float64),
            **staged_member(self)}
        for member, obj in (("encoder", self.encoder_), ("doc2vec", self.doc2vec_)):
            if obj is not None:
                arrays[f"{member}_class"] = np.array(_class_path(obj, member))
                arrays[member] = _model_bytes(obj)
        with atomic_write(target) as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AnswerRanker:
        """Read a model written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike
            The file to read.

        Returns
        -------
        AnswerRanker
            The fitted model, with its encoder and Doc2Vec model when the file holds them.

        Raises
        ------
        ValueError
            For a file that is not one written by :meth:`save`, naming the file and the
            member.
        FileNotFoundError
            For a missing file.
        """
        name = check_path(path)
        a = read_npz(name, _FORMAT, "msopt AnswerRanker")

        def bad(msg: str) -> ValueError:
            return ValueError(f"{name}: not a valid msopt AnswerRanker file ({msg})")

        missing = sorted(_MEMBERS - a.keys())
        if missing:
            raise bad(f"missing {missing}")
        try:
            params = json.loads(str(a["params"]))
            if not isinstance(params, dict):
                raise ValueError("params: expected a JSON object")
            model = cls(**params)
            model._check_params()
        except (TypeError, ValueError) as e:
            raise bad(f"params: {e}") from None
        extras = {}
        for member in ("encoder", "doc2vec"):
            if member in a:
                if f"{member}_class" not in a:
                    raise bad(f"{member}_class missing")
                extras[member] = _model_from_bytes(a[member], str(a[f"{member}_class"]),
                                                   name, member)
        names = unpack_words(a["features"], name)
        F = len(names)
        expected = cls._names(extras.get("encoder"), extras.get("doc2vec"))
        if names != expected:
            if set(names) - {"encoder_cosine", "doc2vec_cosine"} <= set(FEATURES):
                raise bad(f"features: the file's {len(names)} features are not the "
                          f"{len(expected)} this msopt version computes (it was written by "
                          "another version); fit the ranker again")
            raise bad(f"features: expected {expected}, got {names}")
        arrs = {k: a[k] for k in ("mean", "scale", "coef")}
        for k, v in arrs.items():
            if v.dtype != np.float64 or v.shape != (F,) or not np.isfinite(v).all():
                raise bad(f"{k}: expected {F} finite float64 values")
        if (arrs["scale"] <= 0).any():
            raise bad("scale: expected positive values")
        icpt = a["intercept"]
        if icpt.dtype != np.float64 or icpt.shape != () or not np.isfinite(icpt):
            raise bad("intercept: expected a finite float64 scalar")
        words = unpack_words(a["df_words"], name) if a["df_words"].size else []
        counts, docs = a["df_counts"], a["df_docs"]
        if counts.dtype != np.int64 or docs.dtype != np.int64 or docs.shape != ():
            raise bad("df_counts, df_docs: expected int64")
        try:
            df = DocumentFrequencies(words, counts, int(docs))
        except ValueError as e:
            raise bad(f"df_counts: {e}") from None
        model.doc2vec = model.doc2vec_ = extras.get("doc2vec")
        model.encoder = model.encoder_ = extras.get("encoder")
        model.feature_names_ = names
        model.mean_, model.scale_, model.coef_ = arrs["mean"], arrs["scale"], arrs["coef"]
        model.intercept_ = float(icpt)
        model.df_ = df
        nq = a["n_questions"]
        if nq.dtype != np.int64 or nq.shape != () or int(nq) < 1:
            raise bad("n_questions: expected a positive int64")
        model.n_questions_ = int(nq)
        hist = a["loss_history"] if "loss_history" in a else np.zeros(0)  # older files: none
        if hist.dtype != np.float64 or hist.ndim != 1:
            raise bad("loss_history: expected a float64 vector")
        model.loss_history_ = hist.tolist()
        try:
            set_staged(model, a)
        except (TypeError, ValueError) as e:
            raise bad(str(e)) from None
        return model
