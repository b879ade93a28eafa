"""KeyedVectors in word2vec's file format (text and binary): round trips, gensim both ways
when it is installed, and refused files."""

from __future__ import annotations

import numpy as np
import pytest

from msopt import KeyedVectors


def _kv(n=17, dim=5, seed=0):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(n - 2)] + ["é", "日本"]
    return KeyedVectors(words, rng.standard_normal((n, dim)).astype(np.float32))


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("n", [0, 1, 17])
def test_round_trip_is_exact(tmp_path, binary, n):
    kv = _kv(n=max(n, 2))
    kv = KeyedVectors(kv.index_to_key[:n], kv.vectors[:n])
    path = tmp_path / "v.txt"
    kv.save_word2vec_format(path, binary=binary)
    back = KeyedVectors.load_word2vec_format(path, binary=binary)
    assert back.index_to_key == kv.index_to_key
    np.testing.assert_array_equal(back.vectors, kv.vectors)  # float32 values read back exactly
    if n:
        part = KeyedVectors.load_word2vec_format(path, binary=binary, limit=1)
        assert part.index_to_key == kv.index_to_key[:1]


@pytest.mark.parametrize("binary", [False, True])
def test_gensim_reads_ours_and_we_read_gensims(tmp_path, binary):
    gensim = pytest.importorskip("gensim", reason="gensim is not installed")
    kv = _kv()
    ours = tmp_path / "ours.bin"
    kv.save_word2vec_format(ours, binary=binary)
    g = gensim.models.KeyedVectors.load_word2vec_format(ours, binary=binary)
    assert list(g.index_to_key) == kv.index_to_key
    np.testing.assert_array_equal(g.vectors, kv.vectors)
    theirs = tmp_path / "theirs.bin"
    g.save_word2vec_format(theirs, binary=binary)
    back = KeyedVectors.load_word2vec_format(theirs, binary=binary)
    assert back.index_to_key == kv.index_to_key
    np.testing.assert_array_equal(back.vectors, kv.vectors)


def test_word2vec_c_binary_with_newlines_and_fasttext_vec(tmp_path):
    vec = np.array([[1.5, -2.0], [0.25, 3.0]], np.float32)
    path = tmp_path / "c.bin"  # word2vec.c writes a newline after each vector
    path.write_bytes(b"2 2\n" + b"a " + vec[0].tobytes() + b"\n" + b"b " + vec[1].tobytes()
                     + b"\n")
    kv = KeyedVectors.load_word2vec_format(path, binary=True)
    assert kv.index_to_key == ["a", "b"]
    np.testing.assert_array_equal(kv.vectors, vec)
    text = tmp_path / "ft.vec"  # fastText's .vec: a trailing space on every line
    text.write_text("2 2\na 1.5 -2 \nb 0.25 3 \n", encoding="utf-8")
    kv = KeyedVectors.load_word2vec_format(text)
    np.testing.assert_array_equal(kv.vectors, vec)


def test_refused_files_and_words(tmp_path):
    p = tmp_path / "bad.txt"
    for content, match in [("", "line 1"), ("2 x\n", "line 1"), ("2 2\na 1 2\n", "line 3"),
                           ("1 2\na 1\n", "line 2: expected a word and 2 values"),
                           ("1 2\na 1 z\n", "not a number"), ("2 1\na 1\na 2\n", "twice")]:
        p.write_text(content, encoding="utf-8")
        with pytest.raises(ValueError, match=f"bad.txt.*{match}"):
            KeyedVectors.load_word2vec_format(p)
    p.write_bytes(b"1 4\na " + b"\0" * 8)
    with pytest.raises(ValueError, match="ends inside its vector"):
        KeyedVectors.load_word2vec_format(p, binary=True)
    with pytest.raises(FileNotFoundError):
        KeyedVectors.load_word2vec_format(tmp_path / "missing.txt")
    spaced = KeyedVectors(["a b"], np.zeros((1, 2), np.float32))
    out = tmp_path / "out.txt"
    with pytest.raises(ValueError, match="holds whitespace"):
        spaced.save_word2vec_format(out)
    assert not out.exists()
    with pytest.raises(TypeError, match="binary"):
        _kv().save_word2vec_format(out, binary="yes")


def test_doc2vec_tags_are_written_as_text(tmp_path):
    from msopt import Doc2Vec

    model = Doc2Vec([["a", "b"], ["b", "c"]], dim=3, min_count=1, epochs=1, threads=1)
    path = tmp_path / "dv.txt"
    model.dv.save_word2vec_format(path)
    back = KeyedVectors.load_word2vec_format(path)
    assert back.index_to_key == ["0", "1"]
    np.testing.assert_array_equal(back.vectors, model.dv.vectors)
