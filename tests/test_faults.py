"""Faults around files: saves interrupted at any byte (an exception, Ctrl-C, a full disk, a
read-only folder, a killed process) keep the old file and leave no temporary file; every
truncation of every model file, and every value out of range in one, is refused with a
ValueError naming the file; written files follow the umask."""

from __future__ import annotations

import builtins
import errno
import json
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import msopt
from msopt import _io
from msopt.text import Vocabulary

CORPUS = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog"] * 20
TEXTS = ["good film", "great film", "bad film", "awful film"] * 10
LABELS = ["pos", "pos", "neg", "neg"] * 10


def _w2v(seed):
    return msopt.Word2Vec(CORPUS, dim=4, min_count=1, epochs=1, threads=1, seed=seed)


def _clf(seed, buckets=10, dim=2):
    return msopt.TextClassifier(dim=dim, buckets=buckets, epochs=1, threads=1,
                                seed=seed).fit(TEXTS, LABELS)


def _vocab(seed):
    return Vocabulary(min_count=1, lower=bool(seed % 2)).fit(CORPUS[: 3 + seed])


# kind -> (a model built from a seed, the loader); models of two seeds save to different bytes
KINDS = {
    "word2vec": (_w2v, msopt.Word2Vec.load),
    "textclassifier": (_clf, msopt.TextClassifier.load),
    "vocabulary": (_vocab, Vocabulary.load),
}


@pytest.fixture(scope="module")
def models():
    return {kind: (make(1), make(2)) for kind, (make, _) in KINDS.items()}


@pytest.fixture(scope="module")
def saved_bytes(models, tmp_path_factory):
    """kind -> (bytes of the first model's file, bytes of the second's)."""
    folder = tmp_path_factory.mktemp("saved")
    out = {}
    for kind, pair in models.items():
        blobs = []
        for i, m in enumerate(pair):
            p = folder / f"{kind}{i}"
            m.save(p)
            blobs.append(p.read_bytes())
        assert blobs[0] != blobs[1]
        out[kind] = tuple(blobs)
    return out


class _Faulty:
    """A file object whose writes succeed for ``budget`` bytes (characters in text mode),
    then write the part that fits and raise ``exc`` (and raise it again on every later
    write, as a full disk would)."""

    def __init__(self, f, budget, exc):
        self._f, self._budget, self._exc, self.written = f, budget, exc, 0

    def write(self, data):
        chunk = data if isinstance(data, str) else memoryview(data).cast("B")
        if self.written + len(chunk) > self._budget:
            room = max(self._budget - self.written, 0)
            if room:
                self._f.write(chunk[:room])
            self.written = self._budget
            raise self._exc
        self.written += len(chunk)
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def _inject_write_fault(monkeypatch, budget, exc):
    """Every file opened for writing (by open() or os.fdopen()) fails after ``budget``
    bytes: this reaches the writer whichever way it opens its file."""
    real_open, real_fdopen = builtins.open, os.fdopen

    def writing(mode):
        return any(c in mode for c in "wax+")

    def fake_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        return _Faulty(f, budget, exc) if writing(mode) else f

    def fake_fdopen(fd, mode="r", *args, **kwargs):
        f = real_fdopen(fd, mode, *args, **kwargs)
        return _Faulty(f, budget, exc) if writing(mode) else f

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(os, "fdopen", fake_fdopen)


def _assert_untouched(path, old):
    assert path.read_bytes() == old
    assert sorted(os.listdir(path.parent)) == [path.name], "a temporary file was left"


def _budgets(size, n_random=4, seed=0):
    rng = random.Random(seed)
    fixed = {0, 1, 7, size // 2, size - 1}
    return sorted(fixed | {rng.randrange(size) for _ in range(n_random)})


# -- saves interrupted at any byte ----------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("exc", [OSError(errno.EIO, "Input/output error"),
                                 OSError(errno.ENOSPC, "No space left on device"),
                                 KeyboardInterrupt()], ids=["EIO", "ENOSPC", "Ctrl-C"])
def test_save_interrupted_at_any_byte_keeps_the_old_file(tmp_path, monkeypatch, models,
                                                         saved_bytes, kind, exc):
    old_model, new_model = models[kind]
    old, new = saved_bytes[kind]
    path = tmp_path / "model"
    path.write_bytes(old)
    for budget in _budgets(len(new)):
        with monkeypatch.context() as m:
            _inject_write_fault(m, budget, exc)
            with pytest.raises(type(exc)):
                new_model.save(path)
        _assert_untouched(path, old)
    new_model.save(path)  # and a save that is not interrupted replaces it
    assert path.read_bytes() == new
    assert sorted(os.listdir(tmp_path)) == ["model"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("step", ["fsync", "replace", "fdopen"])
@pytest.mark.parametrize("exc", [OSError(errno.EIO, "Input/output error"),
                                 KeyboardInterrupt()], ids=["EIO", "Ctrl-C"])
def test_save_failing_at_sync_or_rename_keeps_the_old_file(tmp_path, monkeypatch, models,
                                                           saved_bytes, kind, step, exc):
    path = tmp_path / "model"
    path.write_bytes(saved_bytes[kind][0])

    def fail(*args, **kwargs):
        raise exc

    fds = _open_fds()
    monkeypatch.setattr(os, step, fail)
    with pytest.raises(type(exc)):
        models[kind][1].save(path)
    monkeypatch.undo()
    _assert_untouched(path, saved_bytes[kind][0])
    assert _open_fds() == fds, "a file descriptor was left open"


def _open_fds():
    """This process's open file descriptors (Linux; None elsewhere)."""
    try:
        return sorted(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def test_a_folder_that_cannot_be_synced_does_not_fail_the_save(tmp_path, monkeypatch,
                                                                models, saved_bytes):
    real = os.fsync

    def fsync(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "Invalid argument")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    models["word2vec"][1].save(tmp_path / "model")
    assert (tmp_path / "model").read_bytes() == saved_bytes["word2vec"][1]


def test_save_syncs_the_file_before_the_rename(tmp_path, monkeypatch, models):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace",
                        lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    models["textclassifier"][0].save(tmp_path / "model")
    assert calls[:2] == ["fsync", "replace"]
    if os.name == "posix":
        assert calls[2:] == ["fsync"]  # the folder


# A process killed while it saves larger models (8 MB) over the file again and again: the
# file holds one model whole, never a part; after SIGINT (KeyboardInterrupt) no temporary
# file is left, after SIGKILL only files of the temporary names.
_KILLED_SAVE = textwrap.dedent("""
    import sys
    import msopt
    texts, labels = ["good film", "bad film"], ["pos", "neg"]
    models = [msopt.TextClassifier(dim=64, buckets=30000, ngrams=2, epochs=0, threads=1, seed=seed)
              .fit(texts, labels) for seed in (2, 3)]
    print("saving", flush=True)
    while True:
        for m in models:
            m.save(sys.argv[1])
""")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_a_process_killed_while_saving_leaves_a_whole_file(tmp_path, models, sig):
    path = tmp_path / "model.npz"
    models["textclassifier"][0].save(path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with subprocess.Popen([sys.executable, "-c", _KILLED_SAVE, str(path)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout.readline() == "saving\n"
            time.sleep(0.4)
            # Python drops a KeyboardInterrupt raised inside a finalizer ("Exception ignored
            # in ..."), and the loop saves on: SIGINT again, as a user presses Ctrl-C again
            for _ in range(30):
                proc.send_signal(sig)
                try:
                    proc.communicate(timeout=2)
                    break
                except subprocess.TimeoutExpired:
                    pass
            assert proc.poll() is not None, "the saving process outlived 30 signals"
        finally:
            proc.kill()
            proc.communicate()
    assert msopt.TextClassifier.load(path).seed in (1, 2, 3)
    left = sorted(set(os.listdir(tmp_path)) - {path.name})
    if sig == signal.SIGINT:
        assert left == []
    for name in left:
        assert re.fullmatch(r"\.model\.npz\.[0-9a-f]{12}\.tmp", name)


def test_threads_saving_to_one_path_leave_one_whole_file(tmp_path, models, saved_bytes):
    import threading

    path = tmp_path / "model"
    errors = []

    def save(model):
        try:
            for _ in range(5):
                model.save(path)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=save, args=(models["word2vec"][i % 2],))
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert not any(t.is_alive() for t in threads)
    assert path.read_bytes() in saved_bytes["word2vec"]
    assert os.listdir(tmp_path) == ["model"]


# -- a full disk and a read-only folder -------------------------------------------------------
_SMALL_DISK = textwrap.dedent("""
    import errno, json, os, subprocess, sys
    import msopt
    from msopt.text import Vocabulary

    mnt = sys.argv[1]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt], check=True)
    texts, labels = ["good film", "bad film"], ["pos", "neg"]
    small = msopt.TextClassifier(dim=2, buckets=10, epochs=1, threads=1).fit(texts, labels)
    big = msopt.TextClassifier(dim=16, buckets=20000, ngrams=2, epochs=0,
                               threads=1).fit(texts, labels)
    vocab = Vocabulary(min_count=1).fit(texts)
    path, vpath = os.path.join(mnt, "model.npz"), os.path.join(mnt, "vocab.txt")
    small.save(path)
    vocab.save(vpath)
    before = {n: open(os.path.join(mnt, n), "rb").read() for n in os.listdir(mnt)}

    def attempt(save):
        try:
            save()
        except OSError as e:
            same = {n: open(os.path.join(mnt, n), "rb").read()
                    for n in os.listdir(mnt)} == before
            return [errno.errorcode.get(e.errno, str(e.errno)), same, str(e)]
        return ["saved", False, ""]

    out = {"full": attempt(lambda: big.save(path))}
    subprocess.run(["mount", "-o", "remount,ro", mnt], check=True)
    out["readonly"] = attempt(lambda: small.save(path))
    out["readonly_vocab"] = attempt(lambda: vocab.save(vpath))
    out["readonly_new"] = attempt(lambda: vocab.save(os.path.join(mnt, "new.txt")))
    print(json.dumps(out))
""")


def test_full_disk_and_read_only_file_system_for_real(tmp_path):
    """A 64 KiB tmpfs mounted in a user namespace (where the system allows one): a save
    that does not fit fails with ENOSPC, one to the file system remounted read-only with
    EROFS; the old files stay as they were and no temporary file is left."""
    unshare = shutil.which("unshare")
    if unshare is None or sys.platform != "linux":
        pytest.skip("no unshare(1): the injected ENOSPC and EROFS tests stand in")
    probe = subprocess.run([unshare, "-rm", "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip("user namespaces are not allowed here: the injected tests stand in")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run([unshare, "-rm", sys.executable, "-c", _SMALL_DISK, str(mnt)],
                         env=env, capture_output=True, text=True, timeout=120)
    if run.returncode != 0 and "mount" in run.stderr and "Traceback" not in run.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {run.stderr.strip()[:200]}")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["full"][:2] == ["ENOSPC", True]
    assert out["readonly"][:2] == ["EROFS", True]
    assert out["readonly_vocab"][:2] == ["EROFS", True]
    assert out["readonly_new"][:2] == ["EROFS", True]
    assert "new.txt" in out["readonly_new"][2]
    assert "model.npz" in out["readonly"][2]  # the message names the file, not the temp


@pytest.mark.parametrize("kind", KINDS)
def test_read_only_folder(tmp_path, monkeypatch, models, saved_bytes, kind):
    """chmod 0o500 on the folder; as root, which ignores permissions, the refusal is
    injected where the file is created (EACCES, then EROFS)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "model"
    path.write_bytes(saved_bytes[kind][0])
    if os.geteuid() != 0:
        folder.chmod(0o500)
        failures = [errno.EACCES]
    else:
        failures = [errno.EACCES, errno.EROFS]
    try:
        for code in failures:
            with monkeypatch.context() as m:
                if os.geteuid() == 0:
                    real = os.open

                    def refuse(file, flags, *args, code=code, real=real, **kwargs):
                        if flags & os.O_CREAT:
                            raise OSError(code, os.strerror(code), file)
                        return real(file, flags, *args, **kwargs)

                    m.setattr(os, "open", refuse)
                with pytest.raises(OSError, match=re.escape(str(path))) as info:
                    models[kind][1].save(path)
            assert info.value.errno == code
            assert info.value.filename == str(path)
            _assert_untouched(path, saved_bytes[kind][0])
    finally:
        folder.chmod(0o700)


# -- permissions ---------------------------------------------------------------------------
@pytest.fixture
def umask():
    def set_umask(value):
        set_umask.old.append(os.umask(value))

    set_umask.old = []
    yield set_umask
    if set_umask.old:
        os.umask(set_umask.old[0])


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_a_new_file_follows_the_umask(tmp_path, models, umask, kind, mask):
    umask(mask)
    path = tmp_path / "model"
    models[kind][0].save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("kind", KINDS)
def test_a_replaced_file_keeps_its_permissions(tmp_path, models, saved_bytes, umask, kind):
    umask(0o077)
    path = tmp_path / "model"
    for mode in (0o644, 0o600, 0o640, 0o664):
        path.write_bytes(saved_bytes[kind][0])
        path.chmod(mode)
        models[kind][1].save(path)
        assert stat.S_IMODE(path.stat().st_mode) == mode
        assert path.read_bytes() == saved_bytes[kind][1]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_a_read_only_file_is_refused_as_open_would(tmp_path, monkeypatch, models,
                                                     saved_bytes):
    """A file the user may not write is not replaced, although its folder would allow the
    rename (as root, who may write it, the refusal is injected through os.access)."""
    path = tmp_path / "model"
    path.write_bytes(saved_bytes["word2vec"][0])
    path.chmod(0o444)
    if os.geteuid() == 0:
        monkeypatch.setattr(os, "access", lambda p, m, **k: not m & os.W_OK)
    with pytest.raises(PermissionError, match=re.escape(str(path))):
        models["word2vec"][1].save(path)
    _assert_untouched(path, saved_bytes["word2vec"][0])
    assert stat.S_IMODE(path.stat().st_mode) == 0o444


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_a_symlink_is_followed_and_kept(tmp_path, models, saved_bytes):
    real = tmp_path / "data" / "model.npz"
    real.parent.mkdir()
    real.write_bytes(saved_bytes["word2vec"][0])
    link = tmp_path / "link.npz"
    link.symlink_to(real)
    models["word2vec"][1].save(link)
    assert link.is_symlink()
    assert real.read_bytes() == saved_bytes["word2vec"][1]
    assert sorted(os.listdir(real.parent)) == ["model.npz"]


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="no /dev/null")
def test_a_device_is_written_in_place(models):
    """Saving to /dev/null writes to it; it is not replaced by a file."""
    models["textclassifier"][0].save("/dev/null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_paths_only_and_not_a_folder(tmp_path, models):
    import io

    m = models["word2vec"][0]
    for target in (io.BytesIO(), 3, None):
        with pytest.raises(TypeError, match="path: expected a file path"):
            m.save(target)
    with pytest.raises(TypeError, match="path: expected a file path"):
        msopt.Word2Vec.load(io.BytesIO())
    with pytest.raises(IsADirectoryError):
        m.save(tmp_path)
    assert os.listdir(tmp_path) == []
    m.save(os.fsencode(tmp_path / "bytes.npz"))  # a bytes path is a path
    assert msopt.Word2Vec.load(tmp_path / "bytes.npz").dim == m.dim


def test_atomic_write_text_and_errors(tmp_path):
    path = tmp_path / "out.txt"
    with _io.atomic_write(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("a\nb\n")
    assert path.read_bytes() == b"a\nb\n"

    def write(mode, fail):
        with _io.atomic_write(path, mode) as f:
            f.write(b"partial")
            if fail:
                raise RuntimeError("stop")

    with pytest.raises(ValueError, match="mode"):
        write("a", False)
    with pytest.raises(RuntimeError):
        write("wb", True)
    assert path.read_bytes() == b"a\nb\n"
    assert os.listdir(tmp_path) == ["out.txt"]


# -- loading every truncation of every model file -------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_every_truncation_is_refused(tmp_path, saved_bytes, kind):
    """Every length from 0 to the file's less one (the files are a few KB)."""
    data = saved_bytes[kind][0]
    load = KINDS[kind][1]
    path = tmp_path / f"cut-{kind}"
    path.write_bytes(data)
    load(path)
    # shortened in place, longest first (rewriting a file from empty each time is slower)
    for n in range(len(data) - 1, -1, -1):
        os.truncate(path, n)
        with pytest.raises(ValueError, match=re.escape(str(path))):
            load(path)


def _members(data, tmp_path):
    p = tmp_path / "whole.npz"
    p.write_bytes(data)
    with np.load(p, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _rewrite(path, members):
    with open(path, "wb") as f:
        np.savez(f, **members)


def _with_param(members, key, value, member="params"):
    params = json.loads(str(members[member]))
    params[key] = value
    return {**members, member: np.array(json.dumps(params))}


# Values the constructor refuses, from a file: too big for C++, below range, wrong type.
BAD_PARAMS = [("window", 2**40), ("seed", 2**70), ("epochs", -1), ("dim", "8"),
              ("threads", 1.5), ("lower", "yes"), ("negative", 2**64), ("min_count", 0)]
TC_BAD_PARAMS = [("ngrams", 2**40), ("seed", 2**70), ("epochs", -1), ("dim", 2.0),
                 ("buckets", -1), ("loss", 3), ("negative", 2**64), ("lr", "0.1")]


def _refused_by_constructor(cls, key, value):
    try:
        cls(**{key: value})._check_params()
    except (TypeError, ValueError):
        return True
    return False


@pytest.mark.parametrize(("cls", "kind", "key", "value"),
                         [(msopt.Word2Vec, "word2vec", k, v) for k, v in BAD_PARAMS]
                         + [(msopt.TextClassifier, "textclassifier", k, v)
                            for k, v in TC_BAD_PARAMS])
def test_a_file_with_values_the_constructor_refuses_is_refused(tmp_path, saved_bytes, cls,
                                                               kind, key, value):
    if not _refused_by_constructor(cls, key, value):
        pytest.xfail(f"the constructor does not refuse {key}={value!r} yet")
    path = tmp_path / "model.npz"
    _rewrite(path, _with_param(_members(saved_bytes[kind][0], tmp_path), key, value))
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*params: " + key):
        cls.load(path)


def test_counts_too_big_for_cpp_are_refused(tmp_path, saved_bytes):
    w2v = _members(saved_bytes["word2vec"][0], tmp_path)
    path = tmp_path / "model.npz"
    for total in (np.uint64(2**64 - 1), np.int64(-1)):
        _rewrite(path, {**w2v, "total_tokens": np.array(total)})
        with pytest.raises(ValueError, match=re.escape(str(path)) + ".*total_tokens"):
            msopt.Word2Vec.load(path)
    clf = _members(saved_bytes["textclassifier"][0], tmp_path)
    for key, value in (("total_tokens", 2**70), ("calls", 2**64), ("total_tokens", True)):
        _rewrite(path, _with_param(clf, key, value, member="state"))
        with pytest.raises(ValueError, match=re.escape(str(path)) + ": state: "):
            msopt.TextClassifier.load(path)
    text = saved_bytes["vocabulary"][0].decode()
    lines = text.split("\n")
    for i, new in ((2, f"{2**70}\tthe"), (2, "-3\tthe"), (1, re.sub(r"lower \d", "lower 2",
                                                                          lines[1])),
                   (1, lines[1].replace("total_tokens", "total")),
                   (1, re.sub(r"min_count \d+", "min_count 99999999999999999999", lines[1])),
                   (1, re.sub(r"words \d+", "words x", lines[1])), (2, "3\tthe cat")):
        path.write_text("\n".join([*lines[:i], new, *lines[i + 1:]]), encoding="utf-8")
        with pytest.raises(ValueError, match=re.escape(str(path))):
            Vocabulary.load(path)


def test_a_member_promising_more_bytes_than_it_holds_is_refused(tmp_path, saved_bytes):
    """A header that claims a huge shape is refused before anything is allocated."""
    import zipfile

    path = tmp_path / "model.npz"
    path.write_bytes(saved_bytes["word2vec"][0])
    with zipfile.ZipFile(path) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    syn0 = members["syn0.npy"]
    start = syn0.index(b"'shape': (") + len(b"'shape': (")
    end = syn0.index(b")", start)
    fake = b"1000000000000, 4"
    header = syn0[:start] + fake + syn0[end:]
    header = header.replace(b" " * (len(fake) - (end - start)) + b"\n", b"\n", 1)
    members["syn0.npy"] = header
    with zipfile.ZipFile(path, "w") as z:
        for k, v in members.items():
            z.writestr(k, v)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*syn0.npy"):
        msopt.Word2Vec.load(path)


def _state(model):
    """Everything a model file holds, as plain values and bytes."""
    if isinstance(model, Vocabulary):
        return (model.words, model.counts.tobytes(), model.total_tokens, model.min_count,
                model.lower)
    if isinstance(model, msopt.Word2Vec):
        return (model.get_params(), _state(model.vocab), model.wv.vectors.tobytes(),
                model.syn1neg.tobytes(), model.loss_history_)
    return (model.get_params(), _state(model.vocab_), model.classes_.tolist(),
            model.input_.tobytes(), model.output_.tobytes(), model.class_counts_.tobytes(),
            model.calls_, model.loss_history_)


def _flip_each(path, data, load, positions):
    want = _state(load(path))
    with open(path, "r+b") as f:
        for i in positions:
            os.pwrite(f.fileno(), bytes([data[i] ^ 0xFF]), i)
            try:
                model, error = load(path), ""
            except ValueError as e:
                model, error = None, str(e)
            assert str(path) in error if model is None else _state(model) == want, i
            os.pwrite(f.fileno(), data[i:i + 1], i)


@pytest.mark.parametrize("kind", KINDS)
def test_a_flipped_byte_is_refused_or_harmless(tmp_path, saved_bytes, kind):
    """One byte changed (300 positions, at random): a ValueError naming the file, or the
    same model (bytes the format does not use: zip timestamps, header padding)."""
    data = saved_bytes[kind][0]
    path = tmp_path / "flipped"
    path.write_bytes(data)
    positions = random.Random(1).sample(range(len(data)), min(len(data), 300))
    _flip_each(path, data, KINDS[kind][1], sorted(positions))


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_every_flipped_byte_is_refused_or_harmless(tmp_path, saved_bytes, kind):
    data = saved_bytes[kind][0]
    path = tmp_path / "flipped"
    path.write_bytes(data)
    _flip_each(path, data, KINDS[kind][1], range(len(data)))
