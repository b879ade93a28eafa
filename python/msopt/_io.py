"""Model files: NumPy ``.npz`` archives with a format tag, read without pickle."""

from __future__ import annotations

import os
import zipfile

import numpy as np

__all__ = ["read_npz"]


def read_npz(path: str | os.PathLike[str], fmt: str, members: tuple[str, ...]
             ) -> dict[str, np.ndarray]:
    """The members of an ``.npz`` file whose ``format`` member is ``fmt``, read into
    memory.  A file that is not such an archive, is truncated, or lacks a member raises
    ValueError naming the file; a missing file raises FileNotFoundError."""
    what = fmt.rsplit(" ", 1)[0]
    with open(path, "rb") as f:
        try:
            z = np.load(f, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            with z:
                if "format" not in z.files:
                    raise ValueError("no format tag")
                tag = str(z["format"])
                if tag != fmt:
                    raise ValueError(f"format {tag[:40]!r}, expected {fmt!r}")
                missing = [m for m in members if m not in z.files]
                if missing:
                    raise ValueError(f"missing {missing}")
                return {m: z[m] for m in members}
        except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as e:
            raise ValueError(f"{path}: not a valid {what} file ({e})") from None
