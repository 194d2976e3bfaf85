"""Atomic folders: built aside, moved into place whole, never half there."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from mouselift.atomic import FolderExistsError, atomic_dir, atomic_write_path, exchange_paths


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_folder_appears_only_when_complete(tmp_path):
    target = tmp_path / "sample"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("a")
        assert not target.exists()
        assert tmp.parent == tmp_path and tmp.name.startswith(".sample.")
    assert _names(target) == ["a.txt"]
    assert _names(tmp_path) == ["sample"]  # nothing hidden left behind


def test_an_exception_leaves_nothing(tmp_path):
    target = tmp_path / "sample"
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("a")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_existing_folder_rules(tmp_path):
    target = tmp_path / "ckpt"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(FolderExistsError), atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert _names(target) == ["old.txt"] and _names(tmp_path) == ["ckpt"]
    with atomic_dir(target, keep_existing=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert _names(target) == ["old.txt"] and _names(tmp_path) == ["ckpt"]
    with atomic_dir(target, replace=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert _names(target) == ["new.txt"] and _names(tmp_path) == ["ckpt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with atomic_dir(empty) as tmp:
        (tmp / "x").write_text("x")
    assert _names(empty) == ["x"]


def test_exchange_is_atomic_on_linux(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "from_a").touch()
    (b / "from_b").touch()
    if not exchange_paths(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) unavailable on this system")
    assert _names(a) == ["from_b"] and _names(b) == ["from_a"]


def test_replacing_never_leaves_the_target_missing(tmp_path):
    """While a folder is replaced over and over, a reader always finds a complete one."""
    target = tmp_path / "checkpoint"
    with atomic_dir(target) as tmp:
        (tmp / "state.json").write_text("0")
    stop = threading.Event()
    missing = []

    def reader():
        while not stop.is_set():
            if not (target / "state.json").is_file():
                missing.append(1)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(1, 200):
            with atomic_dir(target, replace=True) as tmp:
                (tmp / "state.json").write_text(str(i))
    finally:
        stop.set()
        thread.join()
    assert (target / "state.json").read_text() == "199"
    assert _names(tmp_path) == ["checkpoint"]
    if _exchange_supported(tmp_path / "probe"):
        assert missing == []


def _exchange_supported(folder) -> bool:
    (folder / "a").mkdir(parents=True)
    (folder / "b").mkdir()
    return exchange_paths(folder / "a", folder / "b")


@pytest.mark.parametrize(("umask", "file_mode", "dir_mode"),
                         [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_saved_checkpoints_get_the_umask_modes(tmp_path, umask, file_mode, dir_mode):
    """safetensors writes private 0600 files: every atomic write gives the umask's modes
    instead — readable by collaborators under 022, private under 077."""
    from mouselift.cameras.rig import facelift_rig
    from mouselift.gslrm.checkpoints import save_gslrm
    from mouselift.gslrm.config import load_gslrm_config
    from mouselift.gslrm.model import GSLRM

    old = os.umask(umask)
    try:
        folder = save_gslrm(GSLRM(load_gslrm_config("tiny")), tmp_path / "model",
                            facelift_rig(64))
        written = atomic_write_path(tmp_path / "w.bin",
                                    lambda p: os.close(os.open(p, os.O_CREAT | os.O_WRONLY,
                                                               0o600)))
    finally:
        os.umask(old)
    items = [folder, *folder.rglob("*")]
    assert {p.name for p in items} >= {"model", "model.safetensors", "config.json", "rig"}
    for item in items:
        want = dir_mode if item.is_dir() else file_mode
        assert stat.S_IMODE(item.stat().st_mode) == want, item
    assert stat.S_IMODE(written.stat().st_mode) == file_mode
