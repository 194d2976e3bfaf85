"""One policy for every command that writes a result folder (``fit``, ``reconstruct``, ``infer``,
``eval``): a folder holding anything but the same command's result is refused in one line unless
``--overwrite``; a result appears whole, so a crash leaves the previous complete result or none."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_testutils import one_line_error, run_cli
from infer_testutils import FAST_MIN_OPACITY, tiny_gslrm
from mouselift.atomic import result_manifest
from mouselift.data.dataset_rig import rig_from_dataset

#: Each command's arguments (OUT is the result folder) and the module whose JSON writer writes
#: its last file (``metrics.json`` / ``eval.json``), which the crash test makes fail mid-write.
COMMANDS = {
    "fit": (["fit", "SAMPLE", "OUT", "--config", "tiny", "--steps", "2",
             "--turntable-frames", "2"], "mouselift.splat.outputs"),
    "reconstruct": (["reconstruct", "SAMPLE", "OUT", "--gslrm", "GSLRM", "--turntable-frames",
                     "2", "--min-opacity", FAST_MIN_OPACITY], "mouselift.splat.outputs"),
    "infer": (["infer", "OUT", "--views", "SAMPLE", "--gslrm", "GSLRM", "--turntable-frames",
               "2", "--turntable-size", "64", "--min-opacity", FAST_MIN_OPACITY],
              "mouselift.splat.outputs"),
    "eval": (["eval", "DATASET", "OUT", "--gslrm", "GSLRM", "--samples", "1", "--recording",
              "RECORDING"], "mouselift.flows.evaluate.runner"),
}


@pytest.fixture(scope="module")
def gslrm(mouse_dataset, tmp_path_factory) -> Path:
    return tiny_gslrm(tmp_path_factory.mktemp("result_folders") / "model",
                      rig_from_dataset(mouse_dataset))


@pytest.fixture
def command_args(mouse_dataset, synthetic_recording, gslrm):
    def args(command: str, out: Path) -> list[str]:
        paths = {"SAMPLE": mouse_dataset / "sample_000000", "OUT": out, "GSLRM": gslrm,
                 "DATASET": mouse_dataset, "RECORDING": synthetic_recording}
        return [str(paths.get(a, a)) for a in COMMANDS[command][0]] + ["-q"]
    return args


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_foreign_folder_is_refused_and_overwrite_replaces_it(capsys, command_args, tmp_path,
                                                              command):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, err = run_cli(capsys, *command_args(command, out))
    one_line_error(code, err, str(out), "holds files", f"`mouselift {command}`", "--overwrite")
    assert _tree(out) == {"notes.txt": b"mine"}

    code, _, err = run_cli(capsys, *command_args(command, out), "--overwrite")
    assert code in (0, None), err
    manifest = result_manifest(out)
    assert manifest["command"] == command and "notes.txt" not in manifest["files"]
    assert sorted(_tree(out)) == sorted([*manifest["files"], ".mouselift-result.json"])

    code, _, err = run_cli(capsys, *command_args(command, out))  # its own result: replaced
    assert code in (0, None), err
    other = "reconstruct" if command == "fit" else "fit"
    code, _, err = run_cli(capsys, *command_args(other, out))
    one_line_error(code, err, f"holds the result of `mouselift {command}`")


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_crash_leaves_the_previous_result_or_none(capsys, command_args, tmp_path, monkeypatch,
                                                    command):
    def killed(path, *_args, **_kwargs):
        Path(path).write_text("{\"half")
        raise RuntimeError("killed while writing")

    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        patch.setattr(f"{COMMANDS[command][1]}.atomic_write_json", killed)
        with pytest.raises(RuntimeError, match="killed"):
            run_cli(capsys, *command_args(command, out))
    assert not out.exists() and list(tmp_path.iterdir()) == []

    code, _, err = run_cli(capsys, *command_args(command, out))
    assert code in (0, None), err
    before = _tree(out)
    with monkeypatch.context() as patch:
        patch.setattr(f"{COMMANDS[command][1]}.atomic_write_json", killed)
        with pytest.raises(RuntimeError, match="killed"):
            run_cli(capsys, *command_args(command, out))
    assert _tree(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no half-written folder beside it
