"""The presets ship inside the package: a wheel built from the repository, installed outside it,
finds every preset kind (``tiny``, the demo's presets) and runs the CLI; it ships the compiled
rasteriser's C sources (not a build), and ``python -m mouselift.splat.native build`` builds them
where the wheel was installed.

The wheel is built from a copy of ``pyproject.toml``, ``README.md`` and ``src/`` so the build
writes nothing into the checkout; it is installed with ``pip install --target`` and imported from
there ahead of the editable install (dependencies — torch, diffusers, … — still come from the
test's own environment).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KINDS = ("fit", "mvdiff", "prepare", "synth", "train_mvdiff")

CHECK = textwrap.dedent(
    """
    import json, sys
    import mouselift
    from mouselift.config import list_presets, load_config
    from mouselift.data.prepare import PrepareConfig
    from mouselift.data.synth import SynthConfig
    from mouselift.fit.config import FitConfig
    from mouselift.mvdiff.config import load_mvdiff_config
    from mouselift.mvdiff.train_config import load_train_mvdiff_config

    loaders = {
        "fit": lambda name: load_config(FitConfig, "fit", name),
        "mvdiff": load_mvdiff_config,
        "prepare": lambda name: load_config(PrepareConfig, "prepare", name),
        "synth": lambda name: load_config(SynthConfig, "synth", name),
        "train_mvdiff": load_train_mvdiff_config,
    }
    for kind, load in loaders.items():
        load("tiny")
    demo = load_config(SynthConfig, "synth", "demo")
    load_config(PrepareConfig, "prepare", "demo")
    json.dump({"file": mouselift.__file__,
               "presets": {kind: list_presets(kind) for kind in loaders},
               "demo_frames": demo.frames}, sys.stdout)
    """
)


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_presets_ship_in_the_wheel(tmp_path, tiny_builtin):
    """… and so do the built-in models: here a tiny build installed into the copy (the real
    ones come from `make weights`), found and checked where the wheel is installed."""
    from mouselift.weights import install

    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc", "*.so",
                                                  ".build.lock"))
    install(tiny_builtin[0] / "models", source / "src" / "mouselift" / "weights" / "small")

    wheels = tmp_path / "wheels"
    # Offline: the build backend is the environment's setuptools (a dependency of torch; since
    # setuptools 70.1 it builds wheels without the `wheel` package).
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--no-index", "--quiet", "-w", str(wheels), str(source)])
    (wheel,) = wheels.glob("mouselift-*.whl")
    site = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
          "--target", str(site), str(wheel)])

    env = {k: v for k, v in os.environ.items() if not k.startswith("MOUSELIFT")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [env.get("PYTHONPATH")])])
    outside = tmp_path / "elsewhere"
    outside.mkdir()

    info = json.loads(_run([sys.executable, "-c", CHECK], cwd=outside, env=env).stdout)
    assert Path(info["file"]).resolve().is_relative_to(site.resolve()), info["file"]
    for kind in KINDS:
        assert "tiny" in info["presets"][kind], (kind, info["presets"])
    assert "demo" in info["presets"]["synth"] and "demo" in info["presets"]["prepare"]
    assert info["demo_frames"] > 0

    shipped = sorted(p.relative_to(site / "mouselift" / "configs").as_posix()
                     for p in (site / "mouselift" / "configs").glob("*/*.yaml"))
    in_repo = sorted(p.relative_to(REPO / "src" / "mouselift" / "configs").as_posix()
                     for p in (REPO / "src" / "mouselift" / "configs").glob("*/*.yaml"))
    assert shipped == in_repo

    help_text = _run([sys.executable, "-m", "mouselift", "synth", "--help"],
                     cwd=outside, env=env).stdout
    assert "--config" in help_text

    status = _run([sys.executable, "-m", "mouselift.weights", "status"], cwd=outside,
                  env=env).stdout
    assert "using the built-in models (recipe tiny" in status
    assert str((site / "mouselift" / "weights").resolve()) in status
    assert "weights match their records" in status

    native = site / "mouselift" / "splat" / "native"
    assert {p.name for p in native.glob("*.[ch]")} == {"rasterize.c", "rasterize_impl.h",
                                                        "project_impl.h"}
    assert not list(native.glob("*.so"))
    if shutil.which("cc") or shutil.which("gcc"):
        status = [sys.executable, "-m", "mouselift.splat.native"]
        built = _run([*status, "build"], cwd=outside, env=env).stdout
        assert str(native.resolve()) in built
        assert _run([*status, "status"], cwd=outside, env=env).stdout.startswith("available")
