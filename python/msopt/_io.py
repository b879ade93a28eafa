"""Model files: written atomically, read without pickle, checked before use.

Every file msopt writes goes through :func:`atomic_write`: the bytes go to a temporary
file in the target's folder, which is flushed, synced to disk and then renamed over the
target, so an interrupted save (an exception, Ctrl-C, a full disk, a crash or a power
loss) leaves the old file as it was.  Models are NumPy ``.npz`` archives with a format tag
(:func:`read_npz`), the vocabulary's words packed as one UTF-8 byte array.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, Any

import numpy as np

__all__ = ["atomic_write", "check_count", "check_path", "pack_words", "params_from_file",
           "read_npz", "unpack_words"]

_INT64_MAX = 2**63 - 1


def check_path(path: Any, name: str = "path") -> str:
    """``path`` (str, bytes or os.PathLike) as a str; TypeError naming ``name`` for
    anything else (an open file, a file descriptor).  Models read and write files by
    path only: an atomic replace needs the file's folder and name."""
    if isinstance(path, (str, bytes, os.PathLike)):
        p = os.fspath(path)
        p = os.fsdecode(p) if isinstance(p, bytes) else p
        if not isinstance(p, str):  # a PathLike whose __fspath__ returns something else
            raise TypeError(f"{name}: expected a file path (str or os.PathLike), got "
                            f"{type(path).__name__}")
        if "\x00" in p:
            raise ValueError(f"{name}: a file path cannot hold a NUL character, got {p!r}")
        try:
            os.fsencode(p)
        except UnicodeError:
            raise ValueError(f"{name}: {p!r} cannot be encoded as a file name on this "
                             "system") from None
        return p
    raise TypeError(f"{name}: expected a file path (str or os.PathLike), got "
                    f"{type(path).__name__}")


def _create_temp(folder: str, base: str) -> tuple[int, str]:
    """A new file ``.<base>.<random>.tmp`` in ``folder``, opened for writing."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, f".{base}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder}: no free temporary file name for {base}")


def _read_only_fs(folder: str) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs (Windows)
        return False


def _fsync_folder(folder: str) -> None:
    """Make the rename durable (POSIX; best effort: some file systems refuse it)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_write(path: Any, mode: str = "wb", *, encoding: str | None = None,
                 newline: str | None = None) -> Iterator[IO[Any]]:
    """Write a file so that readers see the old file or the new one, never a part.

    Yields a file object open on a new temporary file in the target's folder.  When the
    block ends, the file is flushed, ``os.fsync``-ed and renamed over the target with
    ``os.replace``, and the folder is synced (POSIX).  If the block (or any of these steps)
    raises, KeyboardInterrupt included, the temporary file is removed, the target is left
    untouched, and the exception propagates.

    The new file keeps the replaced file's permission bits; a new file gets the usual
    ``0o666`` less the umask.  A file the writer may not write (``os.access``) is refused
    with PermissionError, as :func:`open` would refuse it, although the folder would
    allow the rename.  A symbolic link is followed: the file it points to is
    replaced and the link is kept.  A hard link to the old file keeps the old content (the
    name now points to a new file), and the new file is owned by the writer.  A process
    killed outright (SIGKILL, a power loss) may leave a ``.<name>.<random>.tmp`` file
    behind, never a damaged target.  A device or a named pipe (``/dev/null``) is written
    in place, as :func:`open` would.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (not an open file: atomicity needs the file's folder).
    mode : "wb" or "w"
        Binary or text.
    encoding, newline
        For text mode, as for :func:`open`.

    Examples
    --------
    >>> import os, tempfile
    >>> from msopt._io import atomic_write
    >>> path = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_write(path, "w", encoding="utf-8") as f:
    ...     _ = f.write("hello\\n")
    >>> with open(path) as f:
    ...     f.read()
    'hello\\n'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode: 'wb' or 'w', got {mode!r}")
    target = os.path.realpath(check_path(path))
    try:
        st = os.stat(target)
        kind, keep = stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode) & 0o777
    except OSError:  # a new file: created with 0o666, which the kernel trims by the umask
        kind, keep = stat.S_IFREG, None  # (and the folder's default ACL), as open() does
    if kind == stat.S_IFDIR:
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), target)
    if kind != stat.S_IFREG:  # a device or a pipe (/dev/null, a FIFO): written in place
        with open(target, mode, encoding=encoding, newline=newline) as f:
            yield f
        return
    folder, base = os.path.split(target)
    if keep is not None and not os.access(target, os.W_OK):
        # open() would refuse a read-only file; replacing it would not, but should not
        code = errno.EROFS if _read_only_fs(folder) else errno.EACCES
        raise OSError(code, os.strerror(code), target)
    try:
        fd, tmp = _create_temp(folder, base)
    except OSError as e:
        if e.errno is None:
            raise
        raise OSError(e.errno, f"{e.strerror} (creating a temporary file in {folder} to "
                      "write it)", target) from e
    try:
        try:
            f = os.fdopen(fd, mode, encoding=encoding, newline=newline)
        except BaseException:
            os.close(fd)
            raise
        with f:
            if keep is not None:
                if hasattr(os, "fchmod"):
                    os.fchmod(f.fileno(), keep)
                else:  # Windows
                    os.chmod(tmp, keep)
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)


def read_npz(path: Any, fmt: str, what: str) -> dict[str, np.ndarray]:
    """Every member of an ``.npz`` file whose ``format`` member reads ``fmt``, in memory
    (``what`` names such files in errors, as "msopt Word2Vec").

    A file that is not such an archive (another file, a lone ``.npy``, an archive of other
    arrays, a truncated or corrupt one, members whose headers promise more bytes than they
    hold) raises ValueError naming the file; a missing file raises FileNotFoundError."""
    name = check_path(path)
    with open(name, "rb") as f:
        try:
            if f.read(6) == b"\x93NUMPY":
                raise ValueError("a single .npy array, not an .npz archive")
            f.seek(0)
            with zipfile.ZipFile(f) as z:
                _check_members(z)
            f.seek(0)
            archive = np.load(f, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            with archive:
                arrays = {k: archive[k] for k in archive.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, struct.error,
                NotImplementedError, KeyError, IndexError, OverflowError,
                SyntaxError) as e:
            raise ValueError(f"{name}: not a readable {what} file ({e})") from None
    tag = arrays.get("format")
    if tag is None or tag.dtype.kind != "U" or tag.shape != () or str(tag) != fmt:
        raise ValueError(f"{name}: not an {what} file (no 'format' member reading "
                         f"{fmt!r})")
    return arrays


def _check_members(z: zipfile.ZipFile) -> None:
    """Each member is an ``.npy`` array whose header's shape and dtype account for its
    size exactly, so no member makes the reader allocate more than the file holds."""
    seen = set()
    for info in z.infolist():
        if not info.filename.endswith(".npy") or info.filename in seen:
            raise ValueError(f"member {info.filename!r}: expected distinct .npy arrays")
        seen.add(info.filename)
        with z.open(info) as m:
            version = np.lib.format.read_magic(m)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(m)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(m)
            else:
                raise ValueError(f"member {info.filename!r}: .npy version {version}")
            header = m.tell()
        if dtype.hasobject:
            raise ValueError(f"member {info.filename!r}: holds Python objects")
        n = 1
        for d in shape:
            n *= d
        if n * dtype.itemsize > _INT64_MAX or header + n * dtype.itemsize != info.file_size:
            raise ValueError(f"member {info.filename!r}: its header promises "
                             f"{n * dtype.itemsize} bytes of data, the archive holds "
                             f"{info.file_size - header}")


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


def check_count(name: str, value: Any, file: str, lo: int = 0) -> int:
    """An integer from a model file that C++ takes as int64: ``lo <= value < 2**63``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{file}: {name}: expected an integer, got {type(value).__name__}")
    if not lo <= int(value) <= _INT64_MAX:
        raise ValueError(f"{file}: {name}: expected an integer in [{lo}, 2**63 - 1], got "
                         f"{value}")
    return int(value)


def params_from_file(cls: Any, value: np.ndarray, file: str, key: str = "params"
                     ) -> dict[str, Any]:
    """The constructor arguments a model file holds (a 0-d str array of a JSON object),
    gensim's and fastText's older names mapped to msopt's; ValueError naming the file and
    the key otherwise."""
    if value.dtype.kind != "U" or value.shape != ():
        raise ValueError(f"{file}: {key}: expected a JSON string")
    try:
        raw = json.loads(str(value))
    except ValueError as e:
        raise ValueError(f"{file}: {key}: not JSON ({e})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{file}: {key}: expected a JSON object")
    aliases = cls._aliases()
    params: dict[str, Any] = {}
    for k, v in raw.items():
        canonical = aliases.get(k, k)
        if canonical in params:
            raise ValueError(f"{file}: {key}: {canonical!r} given twice (as {k!r} too)")
        params[canonical] = v
    expected = set(cls._get_param_names())
    # callbacks are never saved, and older files predate verbose: both keep their defaults
    missing = sorted(expected - params.keys() - {"callbacks", "verbose"})
    extra = sorted(params.keys() - expected)
    if missing or extra:
        raise ValueError(f"{file}: {key}: expected keys {sorted(expected)} (missing "
                         f"{missing}, unexpected keyword {extra})")
    return params
