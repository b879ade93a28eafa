"""Model files: NumPy ``.npz`` archives with a format tag, written and read without
pickle, and the vocabulary's words packed as one UTF-8 byte array."""

from __future__ import annotations

import os
import struct
import zipfile
import zlib

import numpy as np

__all__ = ["pack_words", "read_npz", "unpack_words"]


def read_npz(path: str | os.PathLike[str], fmt: str, what: str) -> dict[str, np.ndarray]:
    """Every member of an ``.npz`` file whose ``format`` member reads ``fmt``, in memory
    (``what`` names such files in errors, as "msopt Word2Vec").
    A file that is not such an archive (another file, a lone ``.npy``, an archive of other
    arrays, a truncated or corrupt one) raises ValueError naming the file; a missing file
    raises FileNotFoundError."""
    name = os.fspath(path)
    with open(path, "rb") as f:
        try:
            archive = np.load(f, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array, not an .npz archive")
            with archive:
                arrays = {k: archive[k] for k in archive.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, struct.error,
                NotImplementedError) as e:
            raise ValueError(f"{name}: not a readable {what} file ({e})") from None
    tag = arrays.get("format")
    if tag is None or tag.dtype.kind != "U" or tag.shape != () or str(tag) != fmt:
        raise ValueError(f"{name}: not an {what} file (no 'format' member reading "
                         f"{fmt!r})")
    return arrays


def pack_words(words: list[str]) -> np.ndarray:
    """Words (no newlines in them) as one uint8 array of UTF-8, joined by newlines."""
    return np.frombuffer("\n".join(words).encode("utf-8"), np.uint8)


def unpack_words(packed: np.ndarray, name: str) -> list[str]:
    """The words of :func:`pack_words`; ValueError naming the file if they are not."""
    if packed.dtype != np.uint8 or packed.ndim != 1:
        raise ValueError(f"{name}: words: expected a 1-D uint8 array")
    try:
        return packed.tobytes().decode("utf-8").split("\n")
    except UnicodeDecodeError as e:
        raise ValueError(f"{name}: words: not UTF-8 ({e})") from None
