"""Strict config loading: unknown keys, wrong types and bad presets are one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

from mouselift.config import StrictModel, load_config, merge_overrides, upgrade_renamed_keys
from mouselift.config.base import list_presets, presets_dir
from mouselift.errors import ConfigError


class Inner(StrictModel):
    renamed_keys: ClassVar[dict[str, str]] = {"levels": "depth"}
    depth: int = 2


class Toy(StrictModel):
    size: int = 512
    name: str = "x"
    inner: Inner = Inner()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


def test_defaults_without_file():
    assert load_config(Toy, "toy").size == 512


def test_file_values_and_overrides(tmp_path):
    path = write(tmp_path, "size: 128\ninner:\n  depth: 5\n")
    cfg = load_config(Toy, "toy", path, {"name": "y", "size": None})
    assert (cfg.size, cfg.name, cfg.inner.depth) == (128, "y", 5)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("sise: 128\n", "unknown config key 'sise'"),
        ("inner:\n  dpeth: 3\n", "unknown config key 'inner.dpeth'"),
        ("size: big\n", "invalid value for 'size'"),
        ("- 1\n- 2\n", "must hold a mapping"),
        ("size: [1\n", "not valid YAML"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(Toy, "toy", path)
    message = str(info.value)
    assert needle in message
    assert str(path) in message
    assert "\n" not in message


def test_unknown_override_key_is_an_error():
    with pytest.raises(ConfigError, match="unknown config key 'colour'"):
        load_config(Toy, "toy", None, {"colour": "red"})


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("inner:\n  levels: 3\n", "config key 'inner.levels' was renamed 'inner.depth'"),
        ("levels: 3\n", "unknown config key 'levels'"),  # renamed in Inner only
    ],
)
def test_renamed_keys_are_refused_with_their_new_name(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(Toy, "toy", path)
    assert needle in str(info.value) and "\n" not in str(info.value)


class Outer(StrictModel):
    renamed_keys: ClassVar[dict[str, str]] = {"resolution": "image_size"}
    image_size: int = 64
    inner: Inner | None = None


def test_our_own_old_files_load_under_the_new_names():
    old = {"resolution": 32, "inner": {"levels": 7}}
    upgraded = upgrade_renamed_keys(Outer, old)
    assert upgraded == {"image_size": 32, "inner": {"depth": 7}}
    assert old == {"resolution": 32, "inner": {"levels": 7}}  # the input is left as it was
    cfg = Outer.model_validate(upgraded)
    assert (cfg.image_size, cfg.inner.depth) == (32, 7)
    assert upgrade_renamed_keys(Outer, {"inner": None}) == {"inner": None}


def test_a_checkpoint_saved_before_a_rename_resumes():
    from mouselift.gslrm.train_config import load_train_gslrm_config
    from mouselift.train.checkpoints import CheckpointError
    from mouselift.train.engine import check_resume

    config = load_train_gslrm_config("tiny", {"dataset": "d", "output_dir": "o"})
    saved = config.model_dump(mode="json")
    saved["data"]["resolution"] = saved["data"].pop("image_size")
    check_resume(config, {"config": saved}, Path("ckpt"))  # no error
    saved["data"]["resolution"] = 999
    with pytest.raises(CheckpointError, match="was trained with data="):
        check_resume(config, {"config": saved}, Path("ckpt"))


def test_a_checkpoint_saved_before_a_key_was_added_resumes_at_its_default():
    """A key the checkpoint's config lacks (added since, at any depth) counts as its default:
    resuming with the default is allowed, with another value refused."""
    from mouselift.gslrm.train_config import load_train_gslrm_config
    from mouselift.train.checkpoints import CheckpointError
    from mouselift.train.engine import check_resume

    config = load_train_gslrm_config("tiny", {"dataset": "d", "output_dir": "o"})
    saved = config.model_dump(mode="json")
    del saved["losses"]["ignore_unseen"]
    check_resume(config, {"config": saved}, Path("ckpt"))  # no error
    changed = config.model_copy(update={"losses": config.losses.model_copy(
        update={"ignore_unseen": False})})
    with pytest.raises(CheckpointError, match="was trained with losses="):
        check_resume(changed, {"config": saved}, Path("ckpt"))


def test_unknown_preset_lists_known_ones():
    with pytest.raises(ConfigError, match="unknown prepare preset 'nope'"):
        load_config(Toy, "prepare", "nope")


def test_missing_file():
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Toy, "toy", "/does/not/exist.yaml")


def test_merge_overrides_is_recursive_and_skips_none():
    merged = merge_overrides({"a": 1, "b": {"c": 2, "d": 3}}, {"a": None, "b": {"c": 9}})
    assert merged == {"a": 1, "b": {"c": 9, "d": 3}}


def test_repository_presets_are_found():
    assert presets_dir().is_dir()
    assert "default" in list_presets("prepare")
    assert "tiny" in list_presets("synth")
