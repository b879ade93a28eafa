"""The command line (msopt.cli): each command in-process through main([...]), the output
formats, exit statuses and one-line errors; once through ``python -m msopt``, with a real
Ctrl-C."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import msopt
from msopt.cli import main

# the child imports the msopt under test
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(Path(msopt.__file__).parents[1]), *filter(None, os.environ.get("PYTHONPATH", "").split(
        os.pathsep))])}

SMALL_TC = ["-dim", "8", "-bucket", "1000", "-epoch", "10", "-lr", "0.5", "-thread", "1"]
SMALL_W2V = ["-dim", "8", "-minCount", "1", "-epoch", "2", "-thread", "1"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    words = {"pos": "good great fine nice".split(), "neg": "bad awful poor ugly".split()}
    filler = "the film was plot acting".split()
    with open(d / "train.txt", "w") as f:
        for _ in range(200):
            label = str(rng.choice(["pos", "neg"]))
            f.write(f"__label__{label} {' '.join(rng.choice(filler, 2))} "
                    f"{rng.choice(words[label])}\n")
    sentences = ["the cat sat on the mat", "the dog sat on the log", "a king and a queen",
                 "a man and a woman", "the king and the man", "the queen and the woman"]
    (d / "corpus.txt").write_text("\n".join(str(rng.choice(sentences))
                                            for _ in range(300)) + "\n")
    (d / "empty.txt").write_text("")
    (d / "not-a-model.npz").write_text("hello\n")
    return d


def run(argv: list[str], capsys: pytest.CaptureFixture[str], stdin: str | None = None,
        monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, str, str]:
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str, prog: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(prog), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def classifier(files: Path) -> Path:
    assert main(["supervised", "-input", str(files / "train.txt"), "-output",
                 str(files / "clf"), "-verbose", "0", *SMALL_TC]) == 0
    return files / "clf.npz"


@pytest.fixture(scope="module")
def vectors(files: Path) -> Path:
    assert main(["word2vec", "-input", str(files / "corpus.txt"), "-output",
                 str(files / "vecs"), "-verbose", "0", *SMALL_W2V]) == 0
    return files / "vecs"


# -- help ---------------------------------------------------------------------------------
COMMANDS = [["supervised"], ["test"], ["predict"], ["predict-prob"], ["word2vec"],
            ["skipgram"], ["cbow"], ["nn"], ["analogies"], ["lm", "train"],
            ["lm", "generate"], ["lm", "perplexity"], ["doc2vec", "train"],
            ["doc2vec", "infer"], ["encoder", "train"], ["encoder", "encode"], ["bench"]]


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for command in {c[0] for c in COMMANDS}:
        assert re.search(rf"^\s+{command}\s", out, re.M), command
    assert "examples:" in out


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_each_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([*command, "--help"], capsys)
    assert code == 0
    assert out.startswith(f"usage: msopt {' '.join(command)}")


def test_help_shows_the_models_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(["supervised", "-h"], capsys)
    default = msopt.TextClassifier().buckets
    assert re.search(rf"-bucket INT.*\n?.*buckets \(default: {default}\)", out)
    assert "-wordNgrams INT, --wordNgrams INT" in out


# -- TextClassifier -----------------------------------------------------------------------
def test_supervised_writes_a_model_and_reports(files: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["supervised", "--input", files / "train.txt", "--output",
                          tmp_path / "m", "--epoch", "3", *SMALL_TC[:4]], capsys)
    assert code == 0
    assert out == ""
    clf = msopt.TextClassifier.load(tmp_path / "m.npz")
    assert clf.epochs == 3
    assert clf.dim == 8
    assert sorted(clf.classes_.tolist()) == ["neg", "pos"]
    assert re.search(r"^Number of labels: 2$", err, re.M)
    # the model's own progress line (the whole run is one chunk here)
    assert re.search(r"^TextClassifier: epoch 3/3, 100.0% of 600 documents, loss [0-9.e+-]+",
                     err, re.M)
    assert err.rstrip().endswith(f"saved {tmp_path / 'm.npz'}")


def test_plot_draws_the_loss_curve(files: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    png = tmp_path / "loss.png"
    code, _, err = run(["supervised", "-input", files / "train.txt", "-output", tmp_path / "m",
                        "-plot", png, *SMALL_TC[:4]], capsys)
    assert code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plotted {png}" in err
    code, _, err = run(["supervised", "-input", files / "train.txt", "-output", tmp_path / "n",
                        "-plot", tmp_path / "nowhere" / "x.png"], capsys)
    assert code == 1
    assert err.strip().endswith("no such folder")
    assert not (tmp_path / "n.npz").exists()  # refused before training


def test_test_prints_fasttexts_lines(files: Path, classifier: Path,
                                     capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    clf = msopt.TextClassifier.load(classifier)
    for k in (1, 2):
        code, out, err = run(["test", classifier, files / "train.txt", k], capsys)
        assert code == 0
        assert err == ""
        n, p, r = clf.test(files / "train.txt", k=k)
        assert out == f"N\t{n}\nP@{k}\t{p:.3g}\nR@{k}\t{r:.3g}\n"
    # the suffix may be left out, and "-" reads stdin
    text = (files / "train.txt").read_text()
    code, out2, _ = run(["test", files / "clf", "-", "2"], capsys, text, monkeypatch)
    assert code == 0
    assert out2 == out


def test_predict_and_predict_prob(files: Path, classifier: Path,
                                  capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    clf = msopt.TextClassifier.load(classifier)
    lines = (files / "train.txt").read_text().splitlines()[:20]
    texts = [line.split(" ", 1)[1] for line in lines]
    (files / "some.txt").write_text("\n".join(lines) + "\n")
    code, out, err = run(["predict", classifier, files / "some.txt"], capsys)
    assert code == 0
    assert err == "predicted 20 lines\n"
    assert out.splitlines() == [f"__label__{c}" for c in clf.predict(texts).tolist()]

    code, out, err = run(["predict-prob", classifier, files / "some.txt", "2", "-verbose",
                          "0"], capsys)
    assert err == ""
    assert code == 0
    proba = clf.predict_proba(texts)
    for line, row in zip(out.splitlines(), proba):
        m = re.fullmatch(r"__label__(\w+) ([0-9.e-]+) __label__(\w+) ([0-9.e-]+)", line)
        assert m, line
        first, p1, second, p2 = m.groups()
        assert {first, second} == {"pos", "neg"}
        assert float(p1) >= float(p2)
        assert float(p1) == pytest.approx(row[list(clf.classes_).index(first)], rel=1e-5)

    # stdin, a line with no words (an empty answer, as fastText), and the threshold
    stdin = "good film\n\nbad film\n"
    code, out, _ = run(["predict-prob", classifier, "-", "2", "0.5"], capsys, stdin,
                       monkeypatch)
    answers = out.split("\n")
    assert code == 0
    assert len(answers) == 4
    assert answers[1] == ""
    assert answers[3] == ""
    for answer, text in zip(answers[::2], ["good film", "bad film"]):
        label, p = answer.split()  # the other label is below 0.5
        assert label == "__label__" + str(clf.predict([text])[0])
        assert float(p) >= 0.5


def test_the_labels_of_the_input_are_ignored_by_predict(
        files: Path, classifier: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _, with_labels, _ = run(["predict-prob", classifier, "-"], capsys,
                            "__label__neg good film\n", monkeypatch)
    _, without, _ = run(["predict-prob", classifier, "-"], capsys, "good film\n", monkeypatch)
    assert with_labels == without != ""


# -- word vectors -------------------------------------------------------------------------
def test_word2vec_writes_vec_and_model(files: Path, vectors: Path) -> None:
    kv = msopt.KeyedVectors.load_word2vec_format(f"{vectors}.vec")
    model = msopt.Word2Vec.load(f"{vectors}.npz")
    assert model.sg == 1
    assert model.dim == 8
    assert kv.index_to_key == model.wv.index_to_key
    np.testing.assert_array_equal(kv.vectors, model.wv.vectors)


@pytest.mark.parametrize(("command", "suffix", "sg"),
                         [(["cbow"], ".vec", 0), (["word2vec", "-model", "cbow"], ".npz", 0),
                          (["skipgram"], ".npz", 1)])
def test_word2vec_suffix_and_model(command: list[str], suffix: str, sg: int, files: Path,
                                   tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run([*command, "-input", files / "corpus.txt", "-output",
                        tmp_path / f"v{suffix}", *SMALL_W2V], capsys)
    assert code == 0
    assert sorted(os.listdir(tmp_path)) == [f"v{suffix}"]
    assert re.search(r"^Number of words:\s+\d+$", err, re.M)
    if suffix == ".npz":
        assert msopt.Word2Vec.load(tmp_path / "v.npz").sg == sg


def test_nn(vectors: Path, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> None:
    kv = msopt.KeyedVectors.load_word2vec_format(f"{vectors}.vec")
    code, out, err = run(["nn", f"{vectors}.vec", "3"], capsys, "king\nnowhere cat\n",
                         monkeypatch)
    assert code == 0
    expected = [f"{w} {s:.6g}" for q in ("king", "cat") for w, s in kv.most_similar(q, topn=3)]
    assert out.splitlines() == expected
    assert err == "msopt nn: 'nowhere' is not in the vocabulary\n"  # no prompt: not a tty
    _, from_model, _ = run(["nn", f"{vectors}.npz", "3"], capsys, "king\ncat\n", monkeypatch)
    assert from_model == out


def test_analogies_match_gensim(vectors: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    gensim = pytest.importorskip("gensim")
    kv = gensim.models.KeyedVectors.load_word2vec_format(f"{vectors}.vec")
    code, out, err = run(["analogies", f"{vectors}.vec", "4"], capsys,
                         "king man woman\nking man\n\nking man nowhere\n", monkeypatch)
    assert code == 0
    expected = kv.most_similar(positive=["king", "woman"], negative=["man"], topn=4)
    got = [line.split() for line in out.splitlines()]
    assert [w for w, _ in got] == [w for w, _ in expected]
    np.testing.assert_allclose([float(s) for _, s in got], [s for _, s in expected],
                               rtol=1e-5)
    assert err.splitlines() == ["msopt analogies: expected 3 words (A B C), got 2",
                                "msopt analogies: 'nowhere' is not in the vocabulary"]


# -- LanguageModel, Doc2Vec, SentenceEncoder ----------------------------------------------
def test_lm_train_generate_perplexity(files: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["lm", "train", "-input", files / "corpus.txt", "-output",
                          tmp_path / "lm", "-context", "4", "-dim", "8", "-hidden", "16",
                          "-epoch", "2", "-batchSize", "64", "-thread", "1"], capsys)
    assert code == 0
    assert out == ""
    assert len(re.findall(r"^LanguageModel: epoch \d", err, re.M)) == 2  # verbose, on stderr
    lm = msopt.LanguageModel.load(tmp_path / "lm.npz")
    assert (lm.context, lm.epochs) == (4, 2)

    code, out, _ = run(["lm", "generate", tmp_path / "lm", "-prompt", "the ", "-n", "2",
                        "-length", "12", "-seed", "3", "-temperature", "0.5"], capsys)
    assert code == 0
    texts = lm.generate("the ", max_tokens=12, n=2, seed=3, temperature=0.5)
    assert out == "the " + texts[0] + "\n\nthe " + texts[1] + "\n"

    code, out, _ = run(["lm", "perplexity", tmp_path / "lm", files / "corpus.txt"], capsys)
    text = (files / "corpus.txt").read_text().rstrip("\n")
    assert code == 0
    assert out == f"perplexity\t{lm.perplexity(text):.6g}\n"


def test_doc2vec_train_and_infer(files: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run(["doc2vec", "train", "-input", files / "corpus.txt", "-output",
                        tmp_path / "d", *SMALL_W2V], capsys)
    assert code == 0
    assert "on 300 documents" in err
    model = msopt.Doc2Vec.load(tmp_path / "d.npz")
    assert len(model.dv) == 300
    assert model.dm == 0

    docs = "the cat sat\nnowhere nothing\na king and a queen\n"
    code, out, err = run(["doc2vec", "infer", tmp_path / "d", "-"], capsys, docs, monkeypatch)
    assert code == 0
    rows = np.array([line.split() for line in out.splitlines()], np.float32)
    with pytest.warns(UserWarning, match="no word in the vocabulary"):
        expected, _ = msopt.Doc2Vec.load(tmp_path / "d.npz").infer_vectors(
            [d.split() for d in docs.splitlines()])
    np.testing.assert_array_equal(rows, expected)
    assert not rows[1].any()
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 1
    assert warning[0].startswith("msopt doc2vec infer: warning: ")

    for name in ("v.npy", "v.vec"):
        code, _, _ = run(["doc2vec", "infer", tmp_path / "d", "-", "-output",
                          tmp_path / name, "-verbose", "0"], capsys, docs, monkeypatch)
        assert code == 0
    np.testing.assert_array_equal(np.load(tmp_path / "v.npy"), expected)
    kv = msopt.KeyedVectors.load_word2vec_format(tmp_path / "v.vec")
    assert kv.index_to_key == ["0", "1", "2"]
    np.testing.assert_array_equal(kv.vectors, expected)


@pytest.mark.parametrize(("third", "flags", "loss"),
                         [(None, [], "in_batch"), ("score", [], "cosine"),
                          ("label", ["-labels"], "contrastive")])
def test_encoder_train_and_encode(third: str | None, flags: list[str], loss: str,
                                  files: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    lines = (files / "corpus.txt").read_text().splitlines()[:64]
    rows = []
    for i, (a, b) in enumerate(zip(lines, lines[1:] + lines[:1])):
        extra = {None: "", "score": f"\t{i % 5 * 0.5}", "label": f"\t{i % 2}"}[third]
        rows.append(f"{a}\t{b}{extra}")
    (tmp_path / "pairs.tsv").write_text("\n".join(rows) + "\n")
    code, _, err = run(["encoder", "train", "-input", tmp_path / "pairs.tsv", "-output",
                        tmp_path / "e", "-dim", "8", "-bucket", "100", "-epoch", "2",
                        "-thread", "1", *flags], capsys)
    assert code == 0, err
    assert len(re.findall(r"^SentenceEncoder: epoch \d", err, re.M)) == 2
    encoder = msopt.SentenceEncoder.load(tmp_path / "e.npz")
    assert encoder.loss_ == loss
    code, out, err = run(["encoder", "encode", tmp_path / "e", "-"], capsys,
                         "the cat\na dog sat\n", monkeypatch)
    assert code == 0
    assert err == "encoded 2 texts\n"
    got = np.array([line.split() for line in out.splitlines()], np.float32)
    np.testing.assert_array_equal(got, encoder.encode(["the cat", "a dog sat"]))


def test_bench_is_wired(capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    from msopt import _bench

    seen = {}

    def fake_run(quick: bool, echo: object) -> str:
        seen["quick"] = quick
        return "the table"

    monkeypatch.setattr(_bench, "run", fake_run)
    code, out, _ = run(["bench", "--quick"], capsys)
    assert code == 0
    assert seen == {"quick": True}
    assert out.startswith("msopt bench on ")
    assert out.endswith("\nthe table\n")


# -- bad input: one line on stderr, a non-zero status ------------------------------------
BAD = [
    (["supervised", "-input", "{d}/missing.txt", "-output", "{t}/m"], 1,
     "msopt supervised: error: input: {d}/missing.txt: no such file"),
    (["supervised", "-input", "{d}/empty.txt", "-output", "{t}/m"], 1,
     "msopt supervised: error: input: {d}/empty.txt is empty; there is nothing to train on"),
    (["supervised", "-input", "-", "-output", "{t}/m"], 1,
     "msopt supervised: error: input: training reads a file"),
    (["supervised", "-input", "{d}/train.txt", "-output", "{t}/m", "-dim", "x"], 2,
     "msopt supervised: error: argument -dim/--dim: invalid int value: 'x'"),
    (["supervised", "-input", "{d}/train.txt", "-output", "{t}/m", "-dim", "0"], 1,
     "msopt supervised: error: dim: "),
    (["supervised", "-input", "{d}/train.txt", "-output", "{t}/m", "-loss", "hs"], 1,
     "msopt supervised: error: loss: "),
    (["supervised", "-input", "{d}/train.txt", "-output", "{t}/no/m"], 1,
     "msopt supervised: error: output: the folder {t}/no does not exist"),
    (["supervised", "-input", "{d}/corpus.txt", "-output", "{t}/m"], 1,
     "msopt supervised: error: labels: line 1 has 0 __label__ tokens"),
    (["supervised", "-inpt", "x"], 2, "msopt supervised: error: "),
    (["test", "{d}/not-a-model.npz", "{d}/train.txt"], 1,
     "msopt test: error: {d}/not-a-model.npz: not a readable msopt TextClassifier file"),
    (["test", "{d}/vecs.npz", "{d}/train.txt"], 1,
     "msopt test: error: {d}/vecs.npz: not an msopt TextClassifier file"),
    (["test", "{d}/missing", "{d}/train.txt"], 1,
     "msopt test: error: model: {d}/missing: no such file"),
    (["predict", "{d}/clf", "{d}/train.txt", "0"], 2,
     "msopt predict: error: argument k: expected a positive integer, got 0"),
    (["predict", "{d}/clf", "{d}/missing.txt"], 1,
     "msopt predict: error: input: {d}/missing.txt: no such file"),
    (["nn", "{d}/train.txt"], 1, "msopt nn: error: {d}/train.txt: not a word2vec-format file"),
    (["word2vec", "-input", "{d}/corpus.txt", "-output", "{t}/v", "-model", "glove"], 2,
     "msopt word2vec: error: argument -model/--model: invalid choice: 'glove'"),
    (["word2vec", "-input", "{d}/corpus.txt", "-output", "{t}/v", "-minCount", "1000"], 1,
     "msopt word2vec: error: sentences: "),
    (["lm", "train", "-input", "{d}/empty.txt", "-output", "{t}/m"], 1,
     "msopt lm train: error: input: {d}/empty.txt is empty"),
    (["lm", "train", "-input", "{d}/corpus.txt", "-output", "{t}/m", "-level", "byte"], 1,
     "msopt lm train: error: level: "),
    (["lm", "generate", "{d}/clf"], 1, "msopt lm generate: error: {d}/clf.npz: not an msopt"),
    (["lm"], 2, "msopt lm: error: the following arguments are required: ACTION"),
    (["doc2vec", "infer", "{d}/vecs.npz", "{d}/corpus.txt"], 1,
     "msopt doc2vec infer: error: {d}/vecs.npz: not an msopt Doc2Vec file"),
    (["encoder", "train", "-input", "{d}/train.txt", "-output", "{t}/e"], 1,
     "msopt encoder train: error: input: line 1 holds 1 tab-separated columns"),
    ([], 2, "msopt: error: the following arguments are required: COMMAND"),
    (["frobnicate"], 2, "msopt: error: argument COMMAND: invalid choice: 'frobnicate'"),
]


@pytest.mark.parametrize(("argv", "status", "message"), BAD, ids=[" ".join(b[0][:3])
                                                                  for b in BAD])
def test_bad_input_is_one_line(argv: list[str], status: int, message: str, files: Path,
                               classifier: Path, vectors: Path, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    fill = {"d": str(files), "t": str(tmp_path)}
    code, out, err = run([a.format(**fill) for a in argv], capsys)
    assert code == status
    line = one_error_line(err, "msopt")
    assert line.startswith(message.format(**fill)), line
    assert os.listdir(tmp_path) == []  # nothing written


# -- Ctrl-C -------------------------------------------------------------------------------
def interrupt(*args: object, **kwargs: object) -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize(("argv", "target"), [
    (["supervised", "-input", "{d}/train.txt", "-output", "{t}/m"], (msopt.TextClassifier,
                                                                     "fit")),
    (["word2vec", "-input", "{d}/corpus.txt", "-output", "{t}/m", "-minCount", "1"],
     (msopt.Word2Vec, "train")),
    (["lm", "train", "-input", "{d}/corpus.txt", "-output", "{t}/m"],
     (msopt.LanguageModel, "fit")),
    (["doc2vec", "train", "-input", "{d}/corpus.txt", "-output", "{t}/m"],
     (msopt.Doc2Vec, "train")),
])
def test_ctrl_c_during_training(argv: list[str], target: tuple[type, str], files: Path,
                                tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(*target, interrupt)
    fill = {"d": str(files), "t": str(tmp_path)}
    code, out, err = run([a.format(**fill) for a in argv], capsys)
    assert code == 130
    assert out == ""
    assert err.splitlines()[-1] == f"msopt {' '.join(argv[:argv.index('-input')])}: " \
                                   "interrupted; nothing was saved"
    assert "Traceback" not in err
    assert os.listdir(tmp_path) == []


def test_ctrl_c_while_answering(vectors: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(msopt.KeyedVectors, "most_similar", interrupt)
    code, _, err = run(["nn", f"{vectors}.vec"], capsys, "king\n", monkeypatch)
    assert code == 130
    assert err == "msopt nn: interrupted\n"


# -- as a program -------------------------------------------------------------------------
def test_python_m_msopt(files: Path, classifier: Path) -> None:
    text = "good film\nbad plot\n"
    done = subprocess.run([sys.executable, "-m", "msopt", "predict", str(classifier), "-"],
                          input=text, capture_output=True, text=True, env=ENV, timeout=60)
    assert done.returncode == 0
    assert done.stderr == "predicted 2 lines\n"
    clf = msopt.TextClassifier.load(classifier)
    assert done.stdout.splitlines() == ["__label__" + c for c in clf.predict(
        text.splitlines()).tolist()]
    done = subprocess.run([sys.executable, "-m", "msopt", "test", str(classifier),
                           str(files / "missing.txt")], capture_output=True, text=True,
                          env=ENV, timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == f"msopt test: error: input: {files / 'missing.txt'}: no such file\n"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX")
def test_a_real_ctrl_c_stops_a_long_native_call(files: Path, tmp_path: Path) -> None:
    # Word2Vec.train replaced by a call that does not return soon and, like a native
    # training call, does not look at Python's signals.
    script = textwrap.dedent(f"""
        import sys, time, msopt
        from msopt.cli import main
        def train(self, sentences, epochs=None):
            time.sleep(60)
        msopt.Word2Vec.train = train
        sys.exit(main(["word2vec", "-input", {str(files / "corpus.txt")!r},
                       "-output", {str(tmp_path / "v")!r}, "-minCount", "1"]))
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        assert child.stderr is not None
        for line in child.stderr:  # build_vocab has run: the child is in "train"
            if line.startswith("Number of words"):
                break
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=20)
    finally:
        child.kill()
    assert child.returncode == 130
    assert out == ""
    assert err == "msopt word2vec: interrupted; nothing was saved\n"
    assert os.listdir(tmp_path) == []


def test_docstring_examples() -> None:
    import doctest

    import msopt.cli

    result = doctest.testmod(msopt.cli)
    assert result.attempted > 0
    assert result.failed == 0
