"""Atomic file and folder writes: a crash leaves the previous file (or none), never a half-written
one.

Each writer writes a uniquely named temporary file next to the target (same file system) and
renames it into place with ``os.replace``. Parent folders are created. That survives a killed
process; to survive a power cut as well, pass ``durable=True`` (the data is fsynced before the
rename), which costs a few milliseconds per file — worth it for checkpoints, not for each of the
many small files of a dataset sample (those are written inside a temporary folder that is renamed
as a whole).

Whole folders (a dataset sample, a synthetic recording, a pipeline, a checkpoint) are built inside
:func:`atomic_dir`: a hidden temporary folder beside the target, moved into place only when the
block finishes without an exception. Replacing an existing folder swaps the two in one atomic
``renameat2(RENAME_EXCHANGE)`` on Linux, so there is no moment without a complete folder at the
target; elsewhere the old folder is renamed aside first (a window of one rename).

Whatever a writer creates, the files and folders put in place have the modes the process's umask
gives (:func:`apply_umask`), like any other output: a checkpoint is as readable by collaborators
as a PNG.

A command's **result folder** (``fit``, ``reconstruct``, ``infer``, ``eval``) is built inside
:func:`result_folder`, which adds the policy every such command follows: the folder must be new,
empty, or the result of the same command (its :data:`RESULT_MANIFEST` says so); any other
non-empty folder is refused unless ``overwrite``. The result is swapped into place whole, so a
crash leaves the previous complete result or none, and its manifest lists every file it holds.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import os
import shutil
import stat
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from .errors import ConfigError


def temporary_name(target: Path) -> Path:
    """A fresh hidden name next to ``target`` (creating the parent folder)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial")


def current_umask() -> int:
    """The process's umask (from ``/proc`` on Linux, which leaves it untouched; elsewhere it is
    set and restored at once)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: Path) -> None:
    """Give ``path`` and, for a folder, everything in it the mode a plain ``open`` or ``mkdir``
    would under the process's umask (``0666``/``0777`` minus the umask): some writers
    (safetensors) create private ``0600`` files, which collaborators on a shared file system
    could not read. Symbolic links and files hard-linked from elsewhere (a pipeline's frozen
    parts, :func:`mouselift.mvdiff.pipeline.link_tree`) keep their source's mode."""
    mask = current_umask()
    items = [path, *path.rglob("*")] if path.is_dir() and not path.is_symlink() else [path]
    for item in items:
        st = item.lstat()
        if stat.S_ISLNK(st.st_mode) or (stat.S_ISREG(st.st_mode) and st.st_nlink > 1):
            continue
        full = 0o777 if stat.S_ISDIR(st.st_mode) or st.st_mode & 0o111 else 0o666
        if stat.S_IMODE(st.st_mode) != full & ~mask:
            os.chmod(item, full & ~mask)


def atomic_write_path(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` (for libraries that want a file name), then rename into place."""
    target = Path(path)
    tmp = temporary_name(target)
    try:
        write(tmp)
        apply_umask(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def atomic_write(
    path: str | os.PathLike, write: Callable[[IO[bytes]], None], *, durable: bool = False
) -> Path:
    """Call ``write(file)`` on a temporary binary file, then rename it into place."""

    def to_file(tmp: Path) -> None:
        with open(tmp, "xb") as f:
            write(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())

    return atomic_write_path(path, to_file)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, durable: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda f: f.write(data), durable=durable)


def atomic_write_text(path: str | os.PathLike, text: str, *, durable: bool = False) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats (an identical image's PSNR is inf) as strings, so that
    it is valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def atomic_write_json(path: str | os.PathLike, data: Any, *, indent: int | None = 1,
                      durable: bool = False) -> Path:
    """Write ``data`` as JSON (non-finite floats as strings, see :func:`json_safe`)."""
    text = json.dumps(json_safe(data), indent=indent, allow_nan=False) + "\n"
    return atomic_write_text(path, text, durable=durable)


class FolderExistsError(FileExistsError):
    """:func:`atomic_dir` found its target already there and was not asked to replace it."""


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, replace: bool = False, keep_existing: bool = False,
               temporary: str | os.PathLike | None = None) -> Iterator[Path]:
    """Build a folder atomically: ``with atomic_dir(target) as tmp:`` write into ``tmp``; on a
    clean exit ``tmp`` becomes ``target``, on an exception it is deleted and ``target`` is left
    as it was.

    If ``target`` exists when the block ends: with ``replace`` the new folder takes its place
    atomically and the old one is deleted; with ``keep_existing`` the existing one wins and the
    new one is deleted (a concurrent writer finished first); otherwise
    :class:`FolderExistsError`. An empty existing folder is always replaced.

    ``temporary``: the folder to build in (default: a hidden unique name beside ``target``); it
    must be new and on the same file system, e.g. a name a clean-up of stale folders knows."""
    target = Path(path)
    tmp = temporary_name(target) if temporary is None else Path(temporary)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        apply_umask(tmp)
        _move_into_place(tmp, target, replace=replace, keep_existing=keep_existing)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _move_into_place(tmp: Path, target: Path, *, replace: bool, keep_existing: bool) -> None:
    if target.is_dir() and not any(target.iterdir()):
        with contextlib.suppress(OSError):
            target.rmdir()
    try:
        os.rename(tmp, target)  # fails if target exists (non-empty folder) or is a file
        return
    except OSError:
        if not target.exists() and not target.is_symlink():
            raise
    if keep_existing:
        shutil.rmtree(tmp, ignore_errors=True)
        return
    if not replace:
        raise FolderExistsError(f"{target}: already exists")
    if target.is_dir() and not target.is_symlink() and exchange_paths(tmp, target):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old folder
        return
    aside = temporary_name(target.with_name(target.name + ".old"))
    os.replace(target, aside)
    os.rename(tmp, target)
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside, ignore_errors=True)
    else:
        aside.unlink(missing_ok=True)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange_paths(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2`` with ``RENAME_EXCHANGE``).
    Returns ``False`` where the system cannot (another OS, an old kernel or file system)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0


#: The file of a result folder that names the command which made it and lists the files of that
#: result (:func:`result_folder`; ``mouselift view`` shows only those files).
RESULT_MANIFEST = ".mouselift-result.json"


def result_manifest(path: str | os.PathLike) -> dict[str, Any] | None:
    """The manifest of the result folder ``path`` (``command``, ``files``), or ``None`` when it
    has none (or an unreadable one)."""
    try:
        doc = json.loads((Path(path) / RESULT_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def mark_result_folder(path: str | os.PathLike, command: str,
                       files: list[str] | None = None) -> None:
    """Write the manifest of ``path``: made by ``command`` (e.g. ``"fit"``), holding ``files``
    (paths relative to the folder; left out for a folder that grows, e.g. ``infer --video``)."""
    doc: dict[str, Any] = {"command": command}
    if files is not None:
        doc["files"] = sorted(files)
    atomic_write_json(Path(path) / RESULT_MANIFEST, doc)


def _holds(folder: Path, path: Path) -> bool:
    return path == folder or folder in path.parents


def check_result_folder(path: str | os.PathLike, command: str, *, overwrite: bool = False,
                        inputs: tuple[str | os.PathLike | None, ...] = ()) -> bool:
    """The policy of a result folder (module docstring); raises a one-line
    :class:`~mouselift.errors.ConfigError` for a folder ``command`` may not write. Returns
    whether ``path`` holds something the new result will replace. Never replaced: the working
    directory or a folder holding it, and a folder holding one of ``inputs`` (``None`` ignored)."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target}: exists and is not a folder")
    resolved = target.resolve()
    if _holds(resolved, Path.cwd().resolve()):
        raise ConfigError(f"{target}: is the working directory (or holds it); give a new or "
                          f"empty sub-folder for the result of `mouselift {command}`")
    if not target.is_dir() or not any(target.iterdir()):
        return False
    owner = (result_manifest(target) or {}).get("command")
    if owner != command and not overwrite:
        made = (f"holds the result of `mouselift {owner}`" if isinstance(owner, str)
                 else "holds files")
        raise ConfigError(f"{target}: {made} and was not made by `mouselift {command}`; give a "
                          "new or empty folder, or --overwrite to replace all its contents")
    for item in inputs:
        if item is not None and _holds(resolved, Path(item).resolve()):
            raise ConfigError(f"{target}: holds the input {item}, which the result would "
                              "replace; give another folder")
    return True


def claim_result_folder(path: str | os.PathLike, command: str, *, overwrite: bool = False,
                        fresh: bool = False,
                        inputs: tuple[str | os.PathLike | None, ...] = ()) -> None:
    """Make ``path`` the folder of ``command``'s result that grows in place (``demo``,
    ``infer --video``) under the policy of :func:`check_result_folder`: an earlier result of the
    same command is continued (cleared first when ``fresh``), another folder is cleared only with
    ``overwrite``; the manifest (no file list) marks it. The manifest is re-read at each step:
    several processes of one run may claim the same folder."""
    target = Path(path)

    def ours() -> bool:
        return (result_manifest(target) or {}).get("command") == command

    if check_result_folder(target, command, overwrite=overwrite, inputs=inputs) and (
            fresh or not ours()):
        shutil.rmtree(target, ignore_errors=True)
    if not ours():
        target.mkdir(parents=True, exist_ok=True)
        mark_result_folder(target, command)


@contextlib.contextmanager
def result_folder(path: str | os.PathLike, command: str, *, overwrite: bool = False,
                  inputs: tuple[str | os.PathLike | None, ...] = ()) -> Iterator[Path]:
    """Write ``command``'s result folder ``path``: ``with result_folder(out, "fit") as tmp:``
    write every file into ``tmp`` (a hidden folder beside ``out``). On a clean exit the manifest
    (``command``, every file written) is added and ``tmp`` takes ``out``'s place in one atomic
    swap: the previous result is deleted only then. On an exception ``tmp`` is deleted and
    ``out`` is left as it was. The policy (:func:`check_result_folder`) is checked on entry and
    again just before the swap; call it early too, so that a refusal comes before the work."""
    check_result_folder(path, command, overwrite=overwrite, inputs=inputs)
    with atomic_dir(path, replace=True) as tmp:
        yield tmp
        mark_result_folder(tmp, command, [p.relative_to(tmp).as_posix()
                                          for p in tmp.rglob("*") if p.is_file()])
        check_result_folder(path, command, overwrite=overwrite, inputs=inputs)
