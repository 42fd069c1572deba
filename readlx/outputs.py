"""What readlx writes: only the outputs it is given, atomically, never over inputs or through symlinks.

The one owner of writing to the file system:

- :func:`claim` checks an output before any work starts: an existing one is refused unless the caller
  passes ``force`` (``--force``); an input of the same command never, whatever the flags; a symbolic
  link never, since readlx follows no link it did not make.
- :func:`write_atomic` writes through a temporary file created exclusively (``O_EXCL``, an
  unpredictable name in the target's directory) and renamed into place, so a kill leaves either the
  old file or the new one, and a link planted under a temporary name is never followed.
- :func:`make_dir` creates a directory with an ownership mark; :func:`remove_dir` deletes only a
  directory that carries that mark and is not a link: a directory readlx did not create is never
  deleted.
- :func:`sweep` removes what a kill in the middle of those two steps can leave beside an output: a
  temporary file of :func:`write_atomic` or a directory :func:`remove_dir` had renamed away.
- :func:`locked` holds the one lock of an output while a process writes it.

Examples
--------
>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> write_atomic(root / "a.txt", lambda tmp: tmp.write_text("one"))
>>> claim(root / "a.txt", force=False)
Traceback (most recent call last):
...
readlx.errors.OutputError: ...a.txt: exists; pass --force to replace it
>>> claim(root / "a.txt", force=True, inputs=[root / "a.txt"])
Traceback (most recent call last):
...
readlx.errors.OutputError: ...a.txt: is also an input of this command; write the output elsewhere
>>> made = make_dir(root / "work")
>>> remove_dir(made), (root / "work").exists()
(True, False)
"""
from __future__ import annotations

import errno
import fcntl
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from readlx.errors import OutputError

MARK = ".readlx-owned"
"""The file that marks a directory readlx created (and may therefore delete)."""


def claim(path: str | Path, *, force: bool, inputs: Iterable[str | Path] = (), kind: str = "file") -> Path:
    """``path`` as an output to write, checked before any work: see the module docstring.

    Parameters
    ----------
    path
        The output (a file, or a directory with ``kind="dir"``).
    force
        Replace an existing output of the same kind.
    inputs
        The command's input files and directories: never an output, whatever ``force``.
    kind
        ``"file"`` or ``"dir"``; an existing output of the other kind is refused.

    Raises
    ------
    OutputError
        Naming the path and what to do.
    """
    out = Path(path)
    if out.is_symlink():
        raise OutputError("is a symbolic link; readlx writes no output through a link", path=out)
    for source in inputs:
        if _same(out, Path(source)):
            raise OutputError("is also an input of this command; write the output elsewhere", path=out)
    if out.exists():
        if (kind == "dir") != out.is_dir():
            raise OutputError(f"exists and is not a {'directory' if kind == 'dir' else 'file'}", path=out)
        if not force:
            raise OutputError("exists; pass --force to replace it", path=out)
    return out


def write_atomic(path: str | Path, write: Callable[[Path], object]) -> None:
    """Write ``path`` by calling ``write`` on a fresh temporary file beside it, then renaming it.

    The temporary file is removed when ``write`` raises; ``path`` keeps its old contents.
    Disk-full and permission errors become :class:`OutputError`.
    """
    out = Path(path)
    try:
        fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    except OSError as e:
        raise _os_error(e, out) from e
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp's 0600 would hide the output from the user's group
        write(tmp)
        os.replace(tmp, out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise _os_error(e, out) from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes, *, sync: bool = False) -> None:
    """Write ``data`` to ``path`` like :func:`write_atomic`, checking that every byte reached the file
    (and, with ``sync``, the disk) before the rename.

    Some writers lose a short write without a word (``numpy.save`` to a file object writes with C
    ``fwrite``): serialize into memory, then write here, and a full disk is an error, never a
    truncated file renamed into place.
    """
    def write(tmp: Path) -> None:
        with tmp.open("wb", buffering=0) as f:
            view = memoryview(data)
            while view:
                written = f.write(view)  # the bytes written, which may be fewer than asked
                if not written:
                    raise OSError(errno.ENOSPC, "the file takes no more bytes")
                view = view[written:]
            if sync:
                os.fsync(f.fileno())
        if tmp.stat().st_size != len(data):
            raise OSError(errno.EIO, f"wrote {tmp.stat().st_size} of {len(data)} bytes")

    write_atomic(path, write)


def make_dir(path: str | Path) -> Path:
    """Create the directory ``path`` (its parents too), marked as readlx's; an existing directory is
    marked only when it is empty (readlx then owns everything in it)."""
    out = Path(path)
    if out.is_symlink():
        raise OutputError("is a symbolic link; readlx writes no output through a link", path=out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        if not (out / MARK).is_file():
            if any(out.iterdir()):
                raise OutputError("exists and holds files readlx did not write; name a new directory", path=out)
            (out / MARK).write_text("made by readlx; removed with the directory when readlx is done with it\n")
    except OSError as e:
        raise _os_error(e, out) from e
    return out


def owned(path: str | Path) -> bool:
    """Is ``path`` a directory readlx made (marked, not a link)?"""
    out = Path(path)
    return not out.is_symlink() and out.is_dir() and (out / MARK).is_file()


def remove_dir(path: str | Path) -> bool:
    """Delete ``path`` if readlx made it; ``False`` (nothing deleted) otherwise."""
    if not owned(path):
        return False
    # Renamed away first, atomically: a kill during the deletion leaves a hidden folder, never a
    # half-deleted one under the name a later run would read.
    out = Path(path)
    trash = out.with_name(f".{out.name}.removed-{secrets.token_hex(4)}")
    os.rename(out, trash)
    _delete_owned(trash)
    return True


def _delete_owned(root: Path) -> None:
    """Delete the owned directory ``root``, its mark last: a kill midway leaves it marked, so a later
    :func:`sweep` may still finish the job. Links inside are removed, never followed."""
    for parent, dirs, files in os.walk(root, topdown=False):
        here = Path(parent)
        for name in files:
            if not (here == root and name == MARK):
                (here / name).unlink()
        for name in dirs:
            sub = here / name
            sub.unlink() if sub.is_symlink() else sub.rmdir()
    (root / MARK).unlink()
    root.rmdir()


def sweep(path: str | Path) -> list[Path]:
    """Remove the leftovers a kill can leave beside the output ``path``; the paths removed.

    Only names readlx makes are touched: ``.NAME.<8 random characters>.tmp`` (a plain file, not a
    link) from :func:`write_atomic`, and ``.NAME.removed-<8 hex digits>`` from :func:`remove_dir`, the latter only
    while it carries readlx's mark. Call it while holding the output's :func:`locked`, so no other
    process is writing them.
    """
    out = Path(path)
    temporary = re.compile(rf"\.{re.escape(out.name)}\.[a-z0-9_]{{8}}\.tmp")
    removed = re.compile(rf"\.{re.escape(out.name)}\.removed-[0-9a-f]{{8}}")
    gone = []
    try:
        siblings = list(out.parent.iterdir())
    except OSError:
        return []
    for entry in siblings:
        if temporary.fullmatch(entry.name) and entry.is_file() and not entry.is_symlink():
            entry.unlink(missing_ok=True)
            gone.append(entry)
        elif removed.fullmatch(entry.name) and owned(entry):
            _delete_owned(entry)
            gone.append(entry)
    return gone


def replace_dir(path: str | Path, force: bool) -> Path:
    """Make ``path`` a new, empty directory of readlx's: an existing one is replaced only with
    ``force`` and only when readlx made it (see :func:`claim` and :func:`remove_dir`)."""
    out = Path(path)
    if out.exists() or out.is_symlink():
        claim(out, force=force, kind="dir")
        if not remove_dir(out):
            raise OutputError("exists and was not made by readlx, which never deletes it; name a new "
                              "directory", path=out)
    return make_dir(out)


@contextmanager
def locked(path: str | Path, what: str, *, wait: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created, never through a link) while the context is open.

    Another process holding it makes this raise at once, naming ``what``; with ``wait``, this waits
    for that process to release it instead (the conversion cache: the second process then reads the
    first one's bundle).
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as e:
        raise _os_error(e, Path(path)) from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise OutputError(f"{what} is in use by another readlx process; wait for it, or stop it", path=path) from e
        yield
    finally:
        os.close(fd)  # closing releases the lock


def umask() -> int:
    """This process's umask, read without changing it (``os.umask`` can only set it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def library_failure(e: Exception, path: Path) -> OutputError:
    """The :class:`OutputError` for a writer library's failure without an ``errno`` (netCDF4 says only
    ``NetCDF: HDF error`` when the disk fills up), with the free space where it was writing."""
    try:
        free = f"{shutil.disk_usage(path.parent).free / 2**20:.1f} MiB free there"
    except OSError:
        free = "free space unknown"
    return OutputError(f"cannot be written: {e} (is the disk full? {free}); nothing was replaced", path=path)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _os_error(e: OSError, path: Path) -> OutputError:
    if e.errno == errno.ENOSPC:
        why = "the disk is full"
    elif e.errno == errno.EDQUOT:
        why = "the disk quota is used up"
    elif e.errno == errno.EFBIG:
        why = "the file size limit (ulimit -f) is reached"
    elif e.errno == errno.ELOOP:  # O_NOFOLLOW met a link
        why = "it is a symbolic link, which readlx never follows"
    elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "permission denied"
    else:
        why = e.strerror or str(e)
    return OutputError(f"cannot be written: {why}; nothing was replaced", path=path)
