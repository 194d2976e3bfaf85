"""The optional compiled CPU rasteriser: build it, find it, load it.

``rasterize.c`` (with ``rasterize_impl.h``) is plain C11 — no Python or PyTorch headers — so any
C compiler builds it (Debian: ``apt-get install gcc``). ``make install`` runs
``python -m mouselift.splat.native build``; without a compiler the build is skipped and every
render uses the pure-PyTorch tile rasteriser (:mod:`mouselift.splat.rasterize_cpu`), which gives
the same images, several times more slowly.

The library's file name carries a fingerprint of its sources and flags
(``_rasterize_<hash>.so``), so a stale build of older sources is never loaded: after an update,
``make install`` (or the command above) builds the new one. It is written next to the sources
when the package folder is writable (a checkout, ``pip install -e``), otherwise under
``$XDG_CACHE_HOME/mouselift`` (default ``~/.cache/mouselift``). ``MOUSELIFT_NATIVE=0`` turns it
off at run time. The Python side (binning, autograd) is :mod:`mouselift.splat.rasterize_native`.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

__all__ = [
    "ABI_VERSION",
    "Grid",
    "NativeUnavailable",
    "View",
    "build",
    "disabled",
    "find_compiler",
    "find_library",
    "library_dirs",
    "load",
]

#: Must equal ``ML_ABI_VERSION`` in rasterize.c.
ABI_VERSION = 1
SOURCES = ("rasterize.c", "rasterize_impl.h", "project_impl.h")
FLAGS = ("-O3", "-std=c11", "-fno-math-errno", "-fPIC", "-shared")
#: Tried in turn: with AVX2 clones of the kernels (x86-64 Linux), then without.
VARIANTS = ((), ("-DML_NO_CLONES",))
HERE = Path(__file__).resolve().parent


class NativeUnavailable(RuntimeError):
    """The compiled rasteriser cannot be used (not built, disabled, or failed to load)."""


class View(ctypes.Structure):
    """``ml_view`` of rasterize.c: C cameras of one image size and the projection constants."""

    _fields_ = [("cameras", ctypes.c_int64), ("width", ctypes.c_int64),
                ("height", ctypes.c_int64), ("eps2d", ctypes.c_double),
                ("near_plane", ctypes.c_double), ("far_plane", ctypes.c_double)]


class Grid(ctypes.Structure):
    """``ml_grid`` of rasterize.c: C stacked images of ``width × height``, square tiles."""

    _fields_ = [(name, ctypes.c_int64) for name in
                ("images", "width", "height", "tile_size", "tiles_x", "tiles_y", "channels")]


@cache
def fingerprint() -> str:
    """12 hex digits of the sources and flags: the library name changes with either."""
    digest = hashlib.sha256(" ".join(FLAGS).encode())
    for name in SOURCES:
        digest.update((HERE / name).read_bytes())
    return digest.hexdigest()[:12]


def library_name() -> str:
    return f"_rasterize_{fingerprint()}.so"


def library_dirs() -> list[Path]:
    """Where a build is looked for, in order: next to the sources, then the user cache."""
    cache_root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return [HERE, cache_root / "mouselift"]


def find_library() -> Path | None:
    """The built library for the current sources, or None."""
    for folder in library_dirs():
        path = folder / library_name()
        if path.is_file():
            return path
    return None


def disabled() -> bool:
    """True when ``MOUSELIFT_NATIVE`` is ``0``/``false``/``off``/``no``."""
    return os.environ.get("MOUSELIFT_NATIVE", "").strip().lower() in ("0", "false", "off", "no")


def find_compiler() -> str | None:
    """``$CC``, else the first of cc, gcc, clang on the PATH; None without one."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name.split()[0]):
            return name
    return None


def build(target: Path | None = None, *, compiler: str | None = None) -> Path:
    """Compile the library (atomically: a temporary file renamed into place); returns its path.

    ``target`` folder: default, the first of :func:`library_dirs` that is writable. Raises
    :class:`NativeUnavailable` with the compiler's message when there is no compiler or it fails.
    """
    cc = compiler or find_compiler()
    if cc is None:
        raise NativeUnavailable("no C compiler found (set CC, or install gcc: apt-get install gcc)")
    folders = [Path(target)] if target is not None else library_dirs()
    last_error: OSError | None = None
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".rasterize-", suffix=".so.partial", dir=folder)
        except OSError as err:
            last_error = err
            continue
        os.close(fd)
        try:
            errors = []
            for extra in VARIANTS:
                command = [*cc.split(), *FLAGS, *extra, str(HERE / "rasterize.c"), "-o", tmp,
                           "-lm"]
                proc = subprocess.run(command, capture_output=True, text=True, check=False)
                if proc.returncode == 0:
                    break
                message = (proc.stderr or proc.stdout).strip().splitlines()
                errors.append(f"{' '.join(command)} failed: "
                              f"{message[-1] if message else proc.returncode}")
            else:
                raise NativeUnavailable("; ".join(errors))
            path = folder / library_name()
            os.chmod(tmp, 0o755)
            os.replace(tmp, path)
            for stale in folder.glob("_rasterize_*.so"):  # builds of older sources
                if stale != path:
                    stale.unlink(missing_ok=True)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        _load_path.cache_clear()
        return path
    raise NativeUnavailable(f"no writable folder for the library ({last_error})")


_POINTER = ctypes.c_void_p


def _declare(lib: ctypes.CDLL) -> None:
    grid = ctypes.POINTER(Grid)
    i64, i32 = ctypes.c_int64, ctypes.c_int
    for suffix in ("f32", "f64"):
        getattr(lib, f"ml_forward_{suffix}").argtypes = [grid, i32, i32, *[_POINTER] * 9]
        getattr(lib, f"ml_backward_{suffix}").argtypes = [grid, i32, i32, *[_POINTER] * 15]
        getattr(lib, f"ml_count_{suffix}").argtypes = [grid, i32, i32, i64, *[_POINTER] * 4]
        getattr(lib, f"ml_fill_{suffix}").argtypes = [grid, i32, i32, i64, *[_POINTER] * 6]
        getattr(lib, f"ml_argsort_{suffix}").argtypes = [i64, _POINTER, _POINTER]
        view = ctypes.POINTER(View)
        getattr(lib, f"ml_project_{suffix}").argtypes = [view, i32, i32, i64, *[_POINTER] * 10]
        getattr(lib, f"ml_project_backward_{suffix}").argtypes = [view, i32, i32, i64,
                                                                  *[_POINTER] * 10]
    for name in ("ml_forward", "ml_backward", "ml_count", "ml_fill", "ml_argsort", "ml_project",
                 "ml_project_backward"):
        for suffix in ("f32", "f64"):
            getattr(lib, f"{name}_{suffix}").restype = ctypes.c_int


@cache
def _load_path(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    version = lib.ml_abi_version()
    if version != ABI_VERSION:
        raise NativeUnavailable(f"{path} has ABI {version}, this mouselift needs {ABI_VERSION}")
    _declare(lib)
    return lib


def load() -> ctypes.CDLL:
    """The loaded library; raises :class:`NativeUnavailable` saying why it cannot be used."""
    if disabled():
        raise NativeUnavailable("the compiled rasteriser is turned off (MOUSELIFT_NATIVE=0)")
    path = find_library()
    if path is None:
        raise NativeUnavailable("the compiled rasteriser is not built: run `make install` or "
                                "`python -m mouselift.splat.native build` (needs a C compiler)")
    try:
        return _load_path(path)
    except OSError as err:
        raise NativeUnavailable(f"cannot load {path}: {err}") from err
