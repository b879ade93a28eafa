"""msopt's command line, in the manner of fastText's.

``msopt supervised``, ``test``, ``predict`` and ``predict-prob`` train and use a
:class:`~msopt.TextClassifier` on fastText's ``__label__X text`` files; ``word2vec`` (or
``skipgram``, ``cbow``), ``nn`` and ``analogies`` train and query word vectors; ``lm``,
``doc2vec`` and ``encoder`` train and use the :class:`~msopt.LanguageModel`,
:class:`~msopt.Doc2Vec` and :class:`~msopt.SentenceEncoder`; ``bench`` times the optimizers.
Flags take fastText's spellings, with one dash or two (``-epoch 5``, ``--epoch 5``).

Results go to stdout; progress, warnings and errors go to stderr, an error or a warning as
one line.  Exit status: 0 on success, 1 for bad input (a missing file, an empty training
file, a file that is not a model, a value the model refuses), 2 for a bad command line,
130 after Ctrl-C (nothing is saved).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import inspect
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

__all__ = ["main"]

MODEL_SUFFIX = ".npz"  # what every msopt model's save writes; "-output model" adds it
LABEL = "__label__"

_DESCRIPTION = """\
msopt's models from the command line, in the manner of fastText's: flags take fastText's
spellings, with one dash or two (-epoch 5, --epoch 5).  Results go to stdout; progress,
warnings and errors to stderr.  Exit status: 0 done, 1 bad input, 2 bad command line,
130 interrupted (Ctrl-C; nothing is saved)."""

_EXAMPLES = """\
examples:
  msopt supervised -input train.txt -output model -epoch 25 -lr 0.5 -wordNgrams 2
  msopt test model.npz test.txt 1
  msopt predict-prob model.npz - 3 < questions.txt
  msopt word2vec -input corpus.txt -output vectors -model cbow -dim 100
  echo king | msopt nn vectors.vec
  msopt lm train -input text.txt -output lm -level char -epoch 5
  msopt lm generate lm.npz -prompt "ROMEO:" -length 200

Run "msopt COMMAND --help" for a command's flags."""


class CommandError(Exception):
    """Bad input that the command reports in one line (exit status 1)."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, not the usage and then the error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# -- small helpers -----------------------------------------------------------------------
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _flag(p: argparse.ArgumentParser, name: str, help: str, type: Any = str,
          **kw: Any) -> None:
    """A flag spelled fastText's way (``-name``) and with two dashes (``--name``)."""
    if type is not None:
        kw["type"] = type
    p.add_argument(f"-{name}", f"--{name}", dest=kw.pop("dest", name), help=help, **kw)


def _model_flags(p: argparse.ArgumentParser, cls: type,
                 flags: Sequence[tuple[Any, ...]]) -> None:
    """Flags that set the model's constructor arguments: (flag, argument, type) or (flag,
    argument, type, what the values are).  Each help line shows the model's own default,
    read from its signature."""
    defaults = inspect.signature(cls).parameters
    for flag, arg, typ, *what in flags:
        default = defaults[arg].default
        shown = "msopt's thread count" if arg == "threads" and default is None else default
        _flag(p, flag, f"{cls.__name__}'s {arg}{''.join('; ' + w for w in what)} (default: "
              f"{shown})", typ, dest=f"model.{arg}",
              metavar=typ.__name__.upper() if typ in (int, float) else "VALUE")


def _model_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The constructor arguments given on the command line (the rest keep their defaults)."""
    return {k[6:]: v for k, v in vars(args).items() if k.startswith("model.") and v is not None}


def _verbose_flag(p: argparse.ArgumentParser) -> None:
    _flag(p, "verbose", "progress on stderr: 0 none, 1 or more a line per step (default: 1)",
          int, default=1, metavar="INT")


def _say(args: argparse.Namespace, message: str) -> None:
    if args.verbose:
        print(message, file=sys.stderr, flush=True)



def _input_file(path: str, name: str = "input", *, training: bool = False) -> str:
    """``path`` if it is a file (or ``-``, stdin, where it is not for training)."""
    if path == "-" and training:
        raise CommandError(f"{name}: training reads a file (it may read it more than once), "
                           "not stdin (-)")
    if path == "-":
        return path
    if not os.path.isfile(path):
        raise CommandError(f"{name}: {path}: no such file" if not os.path.exists(path)
                           else f"{name}: {path}: not a file")
    if training and os.path.getsize(path) == 0:
        raise CommandError(f"{name}: {path} is empty; there is nothing to train on")
    return path


def _output_path(path: str, suffix: str) -> str:
    """``path`` with ``suffix`` added unless it ends with it; its folder must exist (checked
    before a long training, not after)."""
    out = path if path.endswith(suffix) else path + suffix
    folder = os.path.dirname(out) or "."
    if not os.path.isdir(folder):
        raise CommandError(f"output: the folder {folder} does not exist")
    return out


def _model_path(path: str) -> str:
    """A model file given with or without its ``.npz`` suffix."""
    if not os.path.exists(path) and os.path.isfile(path + MODEL_SUFFIX):
        return path + MODEL_SUFFIX
    return _input_file(path, "model")


def _lines(path: str) -> Iterator[str]:
    """The lines of a file (UTF-8), or of stdin for ``-``, without their newlines."""
    from msopt.text import iter_lines

    source: Iterable[str] = sys.stdin if path == "-" else iter_lines(Path(_input_file(path)))
    for line in source:
        yield line.rstrip("\r\n")


def _chunks(path: str, size: int = 4096) -> Iterator[list[str]]:
    """Lines in lists of ``size``, one at a time from stdin (so that a pipe gets each answer
    as soon as it sends the question)."""
    size = 1 if path == "-" else size
    chunk: list[str] = []
    for line in _lines(path):
        chunk.append(line)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _queries(prompt: str) -> Iterator[list[str]]:
    """The words of each line of stdin, prompting on stderr when stdin is a terminal."""
    tty = sys.stdin.isatty()
    while True:
        if tty:
            print(prompt, end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
        if not line:
            return
        yield line.split()


def _train(args: argparse.Namespace, fit: Callable[[], Any], model: Any) -> None:
    """Run ``fit`` with the models' own progress lines sent to stderr, in a worker thread,
    so that Ctrl-C is noticed at once even inside a long native call (which holds no GIL).
    Ctrl-C there ends the process at once with status 130: nothing has been saved yet.
    With ``-plot FILE``, the model's loss (and validation) curves are drawn there after."""
    plot = getattr(args, "plot", None)
    if plot is not None:  # refused before training, not after
        if importlib.util.find_spec("matplotlib") is None:
            raise CommandError("plot: drawing needs matplotlib (pip install matplotlib)")
        folder = os.path.dirname(os.path.abspath(plot))
        if not os.path.isdir(folder):
            raise CommandError(f"plot: {folder}: no such folder")
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            with contextlib.redirect_stdout(sys.stderr):
                fit()
        except BaseException as e:  # handed to the main thread
            outcome.append(e)

    worker = threading.Thread(target=run, name="msopt-cli-train", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
    except KeyboardInterrupt:
        _interrupted(args)
        os._exit(130)  # the native call would run on for as long as it takes
    if outcome:
        raise outcome[0]
    if plot is not None:
        from msopt import plot as plots

        plots.history(model, path=plot)
        _say(args, f"plotted {plot}")


def _interrupted(args: argparse.Namespace) -> None:
    with contextlib.suppress(OSError):
        sys.stdout.flush()
    print(f"{args.prog}: interrupted" + ("; nothing was saved" if args.trains else ""),
          file=sys.stderr, flush=True)


def _verbose_kwargs(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """``verbose=`` for the models that print their own progress."""
    return {"verbose": 1} if args.verbose and "verbose" in inspect.signature(cls).parameters \
        else {}


def _write_vectors(args: argparse.Namespace, vectors: np.ndarray) -> None:
    """Vectors to stdout (one row a line), a ``.npy`` file, or any other file in word2vec's
    text format (the row numbers from 0 as the keys)."""
    from msopt._io import atomic_write

    out = args.output
    if out in (None, "-"):
        for row in vectors:
            print(" ".join(map(str, row)))
        return
    out = _output_path(out, "")
    if out.endswith(".npy"):
        with atomic_write(out) as f:
            np.save(f, vectors)
    else:
        from msopt import KeyedVectors

        KeyedVectors([str(i) for i in range(len(vectors))], vectors).save_word2vec_format(out)
    _say(args, f"wrote {len(vectors):,} vectors to {out}")


# -- TextClassifier ----------------------------------------------------------------------
def _label(c: Any) -> str:
    c = str(c)
    return c if c.startswith(LABEL) else LABEL + c


def _supervised(args: argparse.Namespace) -> None:
    from msopt import TextClassifier

    source = Path(_input_file(args.input, training=True))  # a str is never a file name
    out = _output_path(args.output, MODEL_SUFFIX)
    clf = TextClassifier(**_model_kwargs(args), **_verbose_kwargs(TextClassifier, args))
    _train(args, lambda: clf.fit(source), clf)
    _say(args, f"Read {clf.vocab_.total_tokens:,} words\nNumber of words:  {len(clf.vocab_):,}"
               f"\nNumber of labels: {len(clf.classes_):,}")
    _say(args, f"trained {clf!r} in {clf.train_seconds_:.3g} s ({clf.words_per_sec_:,.0f} "
               "words/s)")
    clf.save(out)
    _say(args, f"saved {out}")


def _test(args: argparse.Namespace) -> None:
    from msopt import TextClassifier

    clf = TextClassifier.load(_model_path(args.model))
    source = list(_lines("-")) if args.input == "-" else Path(_input_file(args.input))
    n, precision, recall = clf.test(source, k=args.k)
    print(f"N\t{n}\nP@{args.k}\t{precision:.3g}\nR@{args.k}\t{recall:.3g}")


def _predict(args: argparse.Namespace) -> None:
    from msopt import TextClassifier

    clf = TextClassifier.load(_model_path(args.model))
    labels = [_label(c) for c in clf.classes_.tolist()]
    n = 0
    for chunk in _chunks(args.input):
        n += len(chunk)
        texts = [" ".join(t for t in line.split() if not t.startswith(LABEL)) for line in chunk]
        scores = clf.predict_proba(texts)
        for text, row in zip(texts, scores):
            top: Any = np.argsort(-row, kind="stable")[:args.k] if text else []  # as fastText
            print(" ".join(f"{labels[j]} {row[j]:.6g}" if args.prob else labels[j]
                           for j in top if row[j] >= args.threshold), flush=args.input == "-")
    _say(args, f"predicted {n:,} lines")


# -- word vectors ------------------------------------------------------------------------
_W2V_FLAGS = [("dim", "dim", int), ("ws", "window", int), ("epoch", "epochs", int),
              ("minCount", "min_count", int), ("neg", "negative", int), ("lr", "lr", float),
              ("t", "sample", float), ("maxVocab", "max_vocab", int),
              ("thread", "threads", int), ("seed", "seed", int)]


def _word2vec(args: argparse.Namespace) -> None:
    from msopt import Word2Vec

    source = Path(_input_file(args.input, training=True))
    if args.output.endswith((".vec", MODEL_SUFFIX)):
        outs = [_output_path(args.output, "")]
    else:
        outs = [_output_path(args.output, ".vec"), _output_path(args.output, MODEL_SUFFIX)]
    model = Word2Vec(sg=int(args.model == "skipgram"), **_model_kwargs(args),
                     **_verbose_kwargs(Word2Vec, args))

    def fit() -> None:
        model.build_vocab(source)
        vocab = model.vocab
        assert vocab is not None
        _say(args, f"Read {vocab.total_tokens:,} words\nNumber of words:  {len(vocab):,}")
        model.train(source)

    _train(args, fit, model)
    _say(args, f"trained {model!r} in {model.train_seconds_:.3g} s "
               f"({model.words_per_sec_:,.0f} words/s)")
    for out in outs:
        if out.endswith(MODEL_SUFFIX):
            model.save(out)
        else:
            model.wv.save_word2vec_format(out)
        _say(args, f"saved {out}")


def _vectors(path: str) -> Any:
    """Word vectors from a ``.vec`` file (word2vec's text format), a ``.bin`` (its binary
    format) or a Word2Vec model (``.npz``)."""
    from msopt import KeyedVectors, Word2Vec

    path = _input_file(path, "model")
    if path.endswith(MODEL_SUFFIX):
        return Word2Vec.load(path).wv
    return KeyedVectors.load_word2vec_format(path, binary=path.endswith(".bin"))


def _nn(args: argparse.Namespace) -> None:
    kv = _vectors(args.model)
    for words in _queries("Query word? "):
        for word in words:
            if word not in kv:
                print(f"{args.prog}: {word!r} is not in the vocabulary", file=sys.stderr)
                continue
            for other, sim in kv.most_similar(word, topn=args.k):
                print(f"{other} {sim:.6g}")
        sys.stdout.flush()


def _analogies(args: argparse.Namespace) -> None:
    kv = _vectors(args.model)
    norms = np.linalg.norm(kv.vectors, axis=1, keepdims=True)
    unit = kv.vectors / np.where(norms > 0, norms, 1)
    for words in _queries("Query triplet (A - B + C)? "):
        if not words:
            continue
        unknown = [w for w in words if w not in kv]
        if len(words) != 3 or unknown:
            print(f"{args.prog}: " + (f"{unknown[0]!r} is not in the vocabulary" if unknown
                                      else f"expected 3 words (A B C), got {len(words)}"),
                  file=sys.stderr)
            continue
        a, b, c = (kv.key_to_index[w] for w in words)
        query = unit[a] - unit[b] + unit[c]  # fastText's and gensim's 3CosAdd
        sims = unit @ (query / max(float(np.linalg.norm(query)), 1e-8))
        sims[[a, b, c]] = -np.inf
        for j in np.argsort(-sims, kind="stable")[:min(args.k, len(kv) - len(set(words)))]:
            print(f"{kv.index_to_key[j]} {sims[j]:.6g}")
        sys.stdout.flush()


# -- LanguageModel -----------------------------------------------------------------------
def _lm_train(args: argparse.Namespace) -> None:
    from msopt import LanguageModel

    source = Path(_input_file(args.input, training=True))  # a str would be the text itself
    validation = None if args.validation is None else Path(_input_file(args.validation,
                                                                        "validation"))
    out = _output_path(args.output, MODEL_SUFFIX)
    lm = LanguageModel(**_model_kwargs(args), **_verbose_kwargs(LanguageModel, args))
    _train(args, lambda: lm.fit(source, validation=validation), lm)
    _say(args, f"trained {lm!r}")
    lm.save(out)
    _say(args, f"saved {out}")


def _lm_generate(args: argparse.Namespace) -> None:
    from msopt import LanguageModel

    lm = LanguageModel.load(_model_path(args.model))
    texts = lm.generate(args.prompt, max_tokens=args.length, temperature=args.temperature,
                        top_k=args.topK, top_p=args.topP, seed=args.seed, n=args.n)
    print("\n\n".join(args.prompt + t for t in ([texts] if isinstance(texts, str) else texts)))


def _lm_perplexity(args: argparse.Namespace) -> None:
    from msopt import LanguageModel

    lm = LanguageModel.load(_model_path(args.model))
    text = "\n".join(_lines(args.input))
    print(f"perplexity\t{lm.perplexity(text, adapt=args.adapt):.6g}")


# -- Doc2Vec -----------------------------------------------------------------------------
def _doc2vec_train(args: argparse.Namespace) -> None:
    from msopt import Doc2Vec

    source = _input_file(args.input, training=True)
    out = _output_path(args.output, MODEL_SUFFIX)
    docs = [line.split() for line in _lines(source)]
    model = Doc2Vec(dm=int(args.model == "dm"), **_model_kwargs(args),
                    **_verbose_kwargs(Doc2Vec, args))
    def fit() -> None:
        model.build_vocab(docs)
        model.train(docs)

    _train(args, fit, model)
    _say(args, f"trained {model!r} on {len(docs):,} documents")
    model.save(out)
    _say(args, f"saved {out}")


def _doc2vec_infer(args: argparse.Namespace) -> None:
    from msopt import Doc2Vec

    model = Doc2Vec.load(_model_path(args.model))
    docs = [line.split() for line in _lines(args.input)]
    vectors, info = model.infer_vectors(docs, epochs=args.epoch)
    _say(args, f"inferred {len(docs):,} vectors ({float(np.mean(info.epochs)):.3g} epochs on "
               "average)")
    _write_vectors(args, vectors)


# -- SentenceEncoder ---------------------------------------------------------------------
def _read_pairs(path: str, labels: bool) -> tuple[list[str], list[str], dict[str, Any]]:
    """``a<TAB>b`` lines, or ``a<TAB>b<TAB>score`` (``label``, 0 or 1, with -labels)."""
    a: list[str] = []
    b: list[str] = []
    third: list[float] = []
    for number, line in enumerate(_lines(path), 1):
        cols = line.split("\t")
        if len(cols) not in (2, 3) or (third and len(cols) == 2) or (a and not third
                                                                     and len(cols) == 3):
            raise CommandError(f"input: line {number} holds {len(cols)} tab-separated "
                               "columns; every line needs 2 (a, b) or every line 3 (a, b, "
                               "score or label)")
        a.append(cols[0])
        b.append(cols[1])
        if len(cols) == 3:
            try:
                third.append(int(cols[2]) if labels else float(cols[2]))
            except ValueError:
                raise CommandError(f"input: line {number}: {cols[2]!r} is not "
                                   + ("a label (0 or 1)" if labels else "a number")) from None
    if labels and not third:
        raise CommandError("input: -labels needs a third column (0 or 1) on every line")
    return a, b, ({("labels" if labels else "scores"): third} if third else {})


def _encoder_train(args: argparse.Namespace) -> None:
    from msopt import SentenceEncoder

    out = _output_path(args.output, MODEL_SUFFIX)
    a, b, targets = _read_pairs(_input_file(args.input, training=True), args.labels)
    encoder = SentenceEncoder(**_model_kwargs(args), **_verbose_kwargs(SentenceEncoder, args))
    _train(args, lambda: encoder.fit(a, b, **targets), encoder)
    _say(args, f"trained {encoder!r} on {len(a):,} pairs")
    encoder.save(out)
    _say(args, f"saved {out}")


def _encoder_encode(args: argparse.Namespace) -> None:
    from msopt import SentenceEncoder

    encoder = SentenceEncoder.load(_model_path(args.model))
    vectors = encoder.encode(list(_lines(args.input)))
    _say(args, f"encoded {len(vectors):,} texts")
    _write_vectors(args, vectors)


# -- bench -------------------------------------------------------------------------------
def _bench(args: argparse.Namespace) -> None:
    from msopt import _bench
    from msopt.__main__ import machine_line

    print(f"msopt bench on {machine_line()}", flush=True)
    print("medians of repeated steps; 'msopt speed-up' = peer time / msopt time; "
          "'share of floor' = 7-stream loop time scaled to the case's bytes / time\n",
          flush=True)
    table = _bench.run(quick=args.quick, echo=lambda s: print("  " + s, flush=True))
    print("\n" + table)


# -- the parser --------------------------------------------------------------------------
def _command(sub: Any, name: str, run: Callable[[argparse.Namespace], None] | None, help: str,
             description: str | None = None) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help, description=description
                                                or help[0].upper() + help[1:] + ".",
                                                allow_abbrev=False)
    p.set_defaults(run=run, prog=p.prog, verbose=1, trains=False)
    return p


def _train_io(p: argparse.ArgumentParser, input_help: str, output_help: str) -> None:
    _flag(p, "input", input_help, required=True, metavar="FILE")
    _flag(p, "output", output_help, required=True, metavar="NAME")
    _flag(p, "plot", "draw the loss (and validation) curves into this PNG file after "
          "training (needs matplotlib)", metavar="FILE.png")
    _verbose_flag(p)
    p.set_defaults(trains=True)


def _model_and_input(p: argparse.ArgumentParser, input_help: str) -> None:
    p.add_argument("model", help=f"the model file (the {MODEL_SUFFIX} suffix may be left out)")
    p.add_argument("input", help=input_help)


def _parser() -> argparse.ArgumentParser:
    from msopt import Doc2Vec, LanguageModel, SentenceEncoder, TextClassifier, Word2Vec

    parser = _Parser(prog="msopt", description=_DESCRIPTION, epilog=_EXAMPLES,
                     formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _command(sub, "supervised", _supervised, "train a TextClassifier on a fastText file",
                 "Train a TextClassifier on lines of fastText's form '__label__X some text' "
                 f"and save it as NAME{MODEL_SUFFIX}.")
    _train_io(p, "training file, one '__label__X text' line per document",
              f"the model is written to NAME{MODEL_SUFFIX}")
    _model_flags(p, TextClassifier, [
        ("lr", "lr", float), ("dim", "dim", int), ("epoch", "epochs", int),
        ("wordNgrams", "ngrams", int), ("minCount", "min_count", int),
        ("loss", "loss", str, "softmax, ova or ns"), ("neg", "negative", int),
        ("bucket", "buckets", int), ("thread", "threads", int), ("seed", "seed", int)])

    p = _command(sub, "test", _test, "print N, precision and recall at k of a classifier",
                 "Print the number of test lines (N), the precision at k and the recall at k "
                 "of a TextClassifier on a labelled file, as fastText's test.")
    _model_and_input(p, "labelled file ('__label__X text' lines); - reads stdin")
    p.add_argument("k", nargs="?", type=_positive_int, default=1, help="labels per line "
                   "(default: 1)")
    for name, prob in (("predict", False), ("predict-prob", True)):
        p = _command(sub, name, _predict, "print the k most likely labels of each line"
                     + (" with their probabilities" if prob else ""),
                     "Print the k most likely labels of each line of the input, one line of "
                     "output per line of input" + (" ('__label__X 0.93 ...'; for the ova and "
                     "ns losses, each label's own sigmoid)" if prob else " ('__label__X ...')")
                     + "; a line with no words gives an empty line.")
        _model_and_input(p, "text file, one document a line ('__label__' tokens are "
                         "ignored); - reads stdin, answering each line at once")
        p.add_argument("k", nargs="?", type=_positive_int, default=1,
                       help="labels per line (default: 1)")
        p.add_argument("threshold", nargs="?", type=float, default=-np.inf,
                       help="leave out labels of lower probability (default: none)")
        _verbose_flag(p)
        p.set_defaults(prob=prob)

    for name, model in (("word2vec", "skipgram"), ("skipgram", "skipgram"), ("cbow", "cbow")):
        p = _command(sub, name, _word2vec, "train word vectors" + (
            "" if name == "word2vec" else f" (word2vec -model {model})"),
            "Train Word2Vec on a text file (words separated by white space, a line per "
            "sentence).  -output NAME writes NAME.vec (word2vec's text format, as fastText's "
            f".vec) and NAME{MODEL_SUFFIX} (the msopt model); a NAME ending in .vec or "
            f"{MODEL_SUFFIX} writes that file alone.")
        _train_io(p, "training text", "where the vectors and the model go (see above)")
        _flag(p, "model", f"skipgram or cbow (default: {model})", default=model,
              choices=["skipgram", "cbow"])
        _model_flags(p, Word2Vec, _W2V_FLAGS)

    for name, run, what in (("nn", _nn, "nearest neighbours of each word read on stdin"),
                            ("analogies", _analogies, "answers to analogies A - B + C read "
                                                      "on stdin, three words a line")):
        p = _command(sub, name, run, what, "Print the " + what + " (a 'word similarity' "
                     "line per answer), as fastText's " + name + ".  MODEL is a .vec file "
                     f"(word2vec's text format), a .bin (its binary format) or a Word2Vec "
                     f"{MODEL_SUFFIX} model.")
        p.add_argument("model", help="the vectors")
        p.add_argument("k", nargs="?", type=_positive_int, default=10,
                       help="answers per query (default: 10)")

    lm = _command(sub, "lm", None, "train and use a LanguageModel").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    p = _command(lm, "train", _lm_train, "train a LanguageModel on a text file",
                 f"Train a LanguageModel on a UTF-8 text file and save it as NAME{MODEL_SUFFIX}.")
    _train_io(p, "training text", f"the model is written to NAME{MODEL_SUFFIX}")
    _flag(p, "validation", "a text to measure after each epoch (early stopping)",
          metavar="FILE")
    _model_flags(p, LanguageModel, [
        ("level", "level", str, "char or word"), ("context", "context", int),
        ("dim", "dim", int), ("hidden", "hidden", int), ("ngram", "ngram", int),
        ("loss", "loss", str, "softmax or sampled"), ("epoch", "epochs", int),
        ("lr", "lr", float), ("batchSize", "batch_size", int), ("minCount", "min_count", int),
        ("thread", "threads", int), ("seed", "seed", int)])
    p = _command(lm, "generate", _lm_generate, "continue a prompt")
    p.add_argument("model", help=f"the model file (the {MODEL_SUFFIX} suffix may be left out)")
    _flag(p, "prompt", "the text to continue (default: none)", default="")
    _flag(p, "n", "continuations, printed one after the other with a blank line between "
          "(default: 1)", _positive_int, default=1, metavar="INT")
    _flag(p, "length", "tokens per continuation at most (default: 100)", _positive_int,
          default=100, metavar="INT")
    _flag(p, "temperature", "0 is greedy (default: 1)", float, default=1.0, metavar="FLOAT")
    _flag(p, "topK", "draw from the k most likely tokens (default: 0, all)", int, default=0,
          metavar="INT")
    _flag(p, "topP", "draw from the most likely tokens of this total probability "
          "(default: 1)", float, default=1.0, metavar="FLOAT")
    _flag(p, "seed", "repeat a draw (default: the model's seed)", int, metavar="INT")
    p = _command(lm, "perplexity", _lm_perplexity, "print a LanguageModel's perplexity on "
                 "a text")
    _model_and_input(p, "the text; - reads stdin")
    _flag(p, "adapt", "dynamic evaluation: adapt to the text as it is read",
          action="store_true", type=None)

    d2v = _command(sub, "doc2vec", None, "train Doc2Vec and infer document "
                   "vectors").add_subparsers(dest="action", required=True, metavar="ACTION")
    p = _command(d2v, "train", _doc2vec_train, "train Doc2Vec on a file, a document a line",
                 f"Train Doc2Vec on a text file, a document a line (tagged with its number "
                 f"from 0), and save it as NAME{MODEL_SUFFIX}.")
    _train_io(p, "training text, a document a line", f"the model goes to NAME{MODEL_SUFFIX}")
    _flag(p, "model", "dbow (PV-DBOW) or dm (PV-DM) (default: dbow)", default="dbow",
          choices=["dbow", "dm"])
    _model_flags(p, Doc2Vec, _W2V_FLAGS)
    p = _command(d2v, "infer", _doc2vec_infer, "infer vectors of new documents, a line each",
                 "Infer a vector for each line of the input, the model frozen.  They are "
                 "printed (a vector a line) or, with -output, written to a .npy file or, "
                 "for any other name, a file in word2vec's text format keyed by line "
                 "number from 0.")
    _model_and_input(p, "text file, a document a line; - reads stdin")
    _flag(p, "output", "where the vectors go (default: stdout)", metavar="FILE")
    _flag(p, "epoch", "inference epochs (default: the model's)", _positive_int, metavar="INT")
    _verbose_flag(p)

    enc = _command(sub, "encoder", None, "train a SentenceEncoder and encode "
                   "texts").add_subparsers(dest="action", required=True, metavar="ACTION")
    p = _command(enc, "train", _encoder_train, "train a SentenceEncoder on pairs of texts",
                 "Train a SentenceEncoder on tab-separated pairs: 'a<TAB>b' lines (related "
                 "texts: the in-batch softmax), 'a<TAB>b<TAB>score' lines (cosine regression "
                 "on the scores) or, with -labels, 'a<TAB>b<TAB>0|1' lines (contrastive "
                 f"loss); save it as NAME{MODEL_SUFFIX}.")
    _train_io(p, "the pairs (tab-separated)", f"the model goes to NAME{MODEL_SUFFIX}")
    _flag(p, "labels", "the third column holds labels (0 or 1), not scores",
          action="store_true", type=None)
    _model_flags(p, SentenceEncoder, [
        ("dim", "dim", int), ("projection", "projection", int),
        ("wordNgrams", "ngrams", int), ("bucket", "buckets", int),
        ("minCount", "min_count", int),
        ("loss", "loss", str, "auto, in_batch, cosine, logistic or contrastive"),
        ("epoch", "epochs", int), ("lr", "lr", float), ("batchSize", "batch_size", int),
        ("thread", "threads", int), ("seed", "seed", int)])
    p = _command(enc, "encode", _encoder_encode, "encode texts, a line each",
                 "Encode each line of the input.  The vectors are printed (a vector a line) "
                 "or, with -output, written to a .npy file or, for any other name, a file in "
                 "word2vec's text format keyed by line number from 0.")
    _model_and_input(p, "text file, a text a line; - reads stdin")
    _flag(p, "output", "where the vectors go (default: stdout)", metavar="FILE")
    _verbose_flag(p)

    p = _command(sub, "bench", _bench, "time the optimizers against NumPy (and torch)")
    p.add_argument("--quick", action="store_true",
                   help="smaller sizes (2e6 parameters, a 2e5-row table)")
    return parser


def _one_line(e: BaseException) -> str:
    if isinstance(e, OSError) and e.filename is not None:
        text = f"{e.filename}: {e.strerror or e}"
    elif isinstance(e, KeyError) and e.args:
        text = str(e.args[0])
    else:
        text = str(e) or type(e).__name__
    return " ".join(text.split("\n"))


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``msopt COMMAND ...`` (``python -m msopt --help`` lists the
    commands) and return its exit status.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program's name (default: ``sys.argv[1:]``).

    Examples
    --------
    >>> from msopt.cli import main
    >>> main(["nn", "no-such-file.vec"])
    1
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:  # --help (0) or a bad command line (2), already printed
        return e.code if isinstance(e.code, int) else 2
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = lambda message, category, *_, **__: print(
            f"{args.prog}: warning: {' '.join(str(message).split())}", file=sys.stderr)
        try:
            args.run(args)
            return 0
        except KeyboardInterrupt:
            _interrupted(args)
            return 130
        except BrokenPipeError:  # "msopt predict ... | head": stop quietly
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 141
        except (CommandError, OSError, ValueError, TypeError, KeyError, IndexError,
                FloatingPointError, MemoryError) as e:
            print(f"{args.prog}: error: {_one_line(e)}", file=sys.stderr)
            return 1
