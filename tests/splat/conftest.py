"""Fixtures for the splat tests: the compiled rasteriser, and PlayCanvas' ``splat-transform`` as a
third-party reader.

``native_library``: the compiled CPU rasteriser (``make install`` builds it); built here if it is
missing, skipped only where no C compiler exists (then it cannot run).

``splat-transform`` (npm ``@playcanvas/splat-transform``, the converter behind SuperSplat) is
installed once into ``<repo>/.cache/splat-transform/<version>`` (git-ignored). It declares
node >= 22 but runs on node 20 (checked with 3.7.0 on node 20.20). The tests that use it skip only
when ``npm`` is not installed; a failed install is a test failure. Set ``MOUSELIFT_SPLAT_TRANSFORM``
to an existing ``splat-transform`` executable to use that instead.
"""

from __future__ import annotations

import csv
import fcntl
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mouselift.splat import native

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def native_library():
    try:
        return native.load()
    except native.NativeUnavailable:
        if native.find_compiler() is None:
            pytest.skip("no C compiler here: the compiled rasteriser cannot be built")
        with open(native.HERE / ".build.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # pytest-xdist workers build once
            if native.find_library() is None:
                native.build()
        return native.load()

SPLAT_TRANSFORM_VERSION = "3.7.0"
PACKAGE = "@playcanvas/splat-transform"


def _install_splat_transform() -> Path:
    prefix = REPO_ROOT / ".cache" / "splat-transform" / SPLAT_TRANSFORM_VERSION
    binary = prefix / "node_modules" / ".bin" / "splat-transform"
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("npm/node not installed: cannot run the splat-transform reader")
    if binary.exists():
        return binary
    prefix.mkdir(parents=True, exist_ok=True)
    with open(prefix.parent / f".{SPLAT_TRANSFORM_VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # pytest-xdist workers install once
        if not binary.exists():
            result = subprocess.run(
                [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                 "--ignore-scripts", "--loglevel=error", f"{PACKAGE}@{SPLAT_TRANSFORM_VERSION}"],
                capture_output=True, text=True, timeout=600, check=False,
            )  # fmt: skip
            if result.returncode != 0 or not binary.exists():
                pytest.fail(
                    f"npm install {PACKAGE}@{SPLAT_TRANSFORM_VERSION} failed "
                    f"(rc {result.returncode}): {result.stderr.strip()[-2000:]}"
                )
    return binary


@pytest.fixture(scope="session")
def splat_transform_bin() -> Path:
    override = os.environ.get("MOUSELIFT_SPLAT_TRANSFORM")
    return Path(override) if override else _install_splat_transform()


@pytest.fixture(scope="session")
def splat_transform(splat_transform_bin: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run ``splat-transform ARGS...``; fails the test with its stderr on a non-zero exit."""

    def run(*args: str | Path) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(splat_transform_bin), "--no-tty", *map(str, args)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            pytest.fail(f"splat-transform {args} failed: {result.stderr.strip()[-2000:]}")
        return result

    return run


@pytest.fixture(scope="session")
def splat_transform_csv(
    splat_transform: Callable[..., subprocess.CompletedProcess],
) -> Callable[..., dict[str, np.ndarray]]:
    """``convert(src, workdir, *actions)``: splat-transform ``src`` to CSV, columns as float64.

    splat-transform's CSV prints each float32 value as the shortest float64 string, so casting the
    parsed values back to float32 recovers them bit for bit.
    """

    def convert(src: Path, workdir: Path, *actions: str) -> dict[str, np.ndarray]:
        out = workdir / f"{src.name}.csv"
        splat_transform("-q", "-w", src, *actions, out)
        with open(out, newline="") as f:
            rows = list(csv.reader(f))
        header, values = rows[0], np.array(rows[1:], dtype=np.float64).reshape(-1, len(rows[0]))
        return {name: values[:, i] for i, name in enumerate(header)}

    return convert
