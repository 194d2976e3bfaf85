"""A restricted unpickler for calibration files written by other tools.

``pickle.load`` runs whatever a file asks for. Calibration pickles (MAMMAL's ``new_cam.pkl``) only
need containers, scalars and NumPy arrays, so this loader resolves exactly those globals and
refuses every other one before anything is called.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

from ..errors import CalibrationError

# (module, name) pairs a NumPy array, dtype or scalar pickle refers to, across NumPy 1.x and 2.x.
_ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("builtins", "list"),
        ("builtins", "dict"),
        ("builtins", "tuple"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "int"),
        ("builtins", "float"),
        ("builtins", "complex"),
        ("builtins", "bool"),
        ("builtins", "str"),
        ("builtins", "bytes"),
        ("builtins", "bytearray"),
        ("collections", "OrderedDict"),
        ("_codecs", "encode"),  # how Python 2 pickles of NumPy arrays carry their bytes
    }
)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            if module.startswith("numpy"):
                # Resolve via the installed NumPy (numpy.core aliases numpy._core in 2.x).
                import importlib

                try:
                    return getattr(importlib.import_module(module), name)
                except (ImportError, AttributeError):
                    alt = module.replace("numpy.core", "numpy._core", 1)
                    return getattr(importlib.import_module(alt), name)
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def safe_load_pickle(path: str | os.PathLike) -> Any:
    """Load a pickle that may hold only containers, scalars, strings and NumPy arrays/dtypes.

    Raises :class:`~mouselift.errors.CalibrationError` naming the file for anything else
    (including code-executing payloads, which are never run) and for unreadable files.
    """
    path = Path(path)
    if not path.is_file():
        raise CalibrationError(f"{path}: calibration file not found")
    data = path.read_bytes()
    try:
        return _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        raise CalibrationError(f"{path}: unsafe or invalid pickle ({exc})") from None
    except (
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        ImportError,
        IndexError,
        KeyError,
    ) as exc:
        raise CalibrationError(
            f"{path}: not a readable pickle ({exc.__class__.__name__}: {exc})"
        ) from None


__all__ = ["safe_load_pickle"]
