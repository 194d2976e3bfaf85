"""Result folders (``mouselift.atomic.result_folder``): one policy for every command that writes
one — new, empty or the same command's result; anything else only with ``overwrite`` — and a
result that appears whole or not at all."""

from __future__ import annotations

import json

import pytest

from mouselift.atomic import (
    RESULT_MANIFEST,
    check_result_folder,
    result_folder,
    result_manifest,
)
from mouselift.errors import ConfigError


def _write(folder, **files):
    for name, text in files.items():
        path = folder / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_text()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_result_appears_whole_with_its_manifest(tmp_path):
    out = tmp_path / "out"
    with result_folder(out, "fit") as tmp:
        _write(tmp, a="1", views__v="2")
        assert not out.exists() and tmp.parent == tmp_path and tmp.name.startswith(".out.")
    assert result_manifest(out) == {"command": "fit", "files": ["a", "views/v"]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing hidden left behind


def test_the_same_command_replaces_its_result_whole(tmp_path):
    out = tmp_path / "out"
    with result_folder(out, "infer") as tmp:
        _write(tmp, a="old", views__v="old")
    with result_folder(out, "infer") as tmp:
        _write(tmp, a="new")
    assert _tree(out) == {RESULT_MANIFEST: json.dumps({"command": "infer", "files": ["a"]},
                                                      indent=1) + "\n", "a": "new"}


def test_a_crash_leaves_the_previous_result(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), result_folder(out, "eval") as tmp:
        _write(tmp, a="half")
        raise RuntimeError("killed")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with result_folder(out, "eval") as tmp:
        _write(tmp, a="complete")
    before = _tree(out)
    with pytest.raises(RuntimeError), result_folder(out, "eval") as tmp:
        _write(tmp, a="half", b="half")
        raise RuntimeError("killed")
    assert _tree(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("other", [None, "reconstruct"])
def test_a_folder_of_something_else_is_refused_unless_overwrite(tmp_path, other):
    out = tmp_path / "out"
    if other is None:
        _write(out, notes="mine")
    else:
        with result_folder(out, other) as tmp:
            _write(tmp, a="theirs")
    before = _tree(out)
    made = f"holds the result of `mouselift {other}`" if other else "holds files"
    with pytest.raises(ConfigError, match=f"{made} and was not made by `mouselift fit`"
                                          ".*--overwrite"):
        with result_folder(out, "fit"):
            pytest.fail("the block must not run")
    assert _tree(out) == before
    with result_folder(out, "fit", overwrite=True) as tmp:
        _write(tmp, a="fit")
    assert result_manifest(out)["files"] == ["a"] and "notes" not in _tree(out)


def test_what_is_never_replaced(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="exists and is not a folder"):
        check_result_folder(tmp_path / "file", "fit", overwrite=True)
    out = tmp_path / "out"
    _write(out, sample__images__cam_000="x")
    with pytest.raises(ConfigError, match="holds the input"):
        check_result_folder(out, "fit", overwrite=True, inputs=(None, out / "sample"))
    assert check_result_folder(tmp_path / "new", "fit") is False
    assert check_result_folder(out, "fit", overwrite=True, inputs=(tmp_path / "file",)) is True
    monkeypatch.chdir(out / "sample")
    for folder in (out, out / "sample"):
        with pytest.raises(ConfigError, match="working directory"):
            check_result_folder(folder, "fit", overwrite=True)
