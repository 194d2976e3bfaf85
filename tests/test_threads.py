"""Thread budgets: processes × threads ≤ cores, an explicit count or OMP_NUM_THREADS wins."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import pytest
import torch
from threadpoolctl import threadpool_info

from mouselift import threads


@pytest.fixture
def cores(monkeypatch):
    """Pretend this process may run on ``n`` cores, outside any launcher, no OMP_NUM_THREADS."""
    for name in ("OMP_NUM_THREADS", *threads.LAUNCHER_PROCESSES):
        monkeypatch.delenv(name, raising=False)

    def use(n: int) -> None:
        monkeypatch.setattr(threads.os, "sched_getaffinity", lambda _pid: set(range(n)))

    return use


@pytest.fixture
def restore_threads():
    """Tests that apply a count give the libraries their counts back afterwards."""
    blas, torch_threads, cv2_threads = (max(blas_threads()), torch.get_num_threads(),
                                        cv2.getNumThreads())
    yield
    threads.set_threads(blas)
    torch.set_num_threads(torch_threads)
    cv2.setNumThreads(cv2_threads)


def blas_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def test_cores_are_divided_among_the_processes(cores):
    cores(8)
    assert threads.threads_per_process() == 8
    assert threads.threads_per_process(processes=2) == 4
    assert threads.threads_per_process(processes=3) == 2
    assert threads.threads_per_process(processes=16) == 1
    cores(2)
    assert threads.threads_per_process(processes=2) == 1


def test_an_explicit_count_or_the_users_omp_num_threads_wins(cores, monkeypatch):
    cores(8)
    assert threads.threads_per_process(3, processes=2) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert threads.threads_per_process(processes=2) == 5
    assert threads.threads_per_process(2) == 2


def test_torchrun_processes_share_the_cores(cores, monkeypatch, restore_threads):
    """torchrun --nproc_per_node 2 on 8 cores: 4 threads each, although torchrun sets
    OMP_NUM_THREADS=1 for its processes when it is unset."""
    cores(8)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("WORLD_SIZE", "4")  # two machines
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.launched_processes() == 2
    assert threads.use_threads() == 4
    assert torch.get_num_threads() == 4 and cv2.getNumThreads() == 1 and blas_threads() == {4}
    assert threads.use_threads(1) == 1
    assert torch.get_num_threads() == 1 and cv2.getNumThreads() == 1 and blas_threads() == {1}


def test_set_threads_before_torch_is_imported_tells_torch_by_its_environment(tmp_path):
    code = (
        "import os, sys\n"
        "from mouselift.threads import set_threads\n"
        "set_threads(1)\n"
        "assert 'torch' not in sys.modules\n"
        "import torch\n"
        "print(torch.get_num_threads(), os.environ['OMP_NUM_THREADS'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120, env=env)
    assert run.stdout.split() == ["1", "1"]



@pytest.mark.parametrize("words", [["fit", "no_such_sample", "out"],
                                   ["train", "gslrm", "--config", "tiny"]])
def test_commands_apply_threads(words, capsys, monkeypatch, tmp_path):
    """``--threads 3`` reaches every library before the command's work (which fails here: no
    sample, no dataset)."""
    from cli_testutils import run_cli

    applied = []
    monkeypatch.setattr(threads, "set_threads", applied.append)
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *words, "--threads", "3")
    assert code == 2 and err.startswith("error: ")
    assert applied == [3]


def test_every_computing_command_takes_threads():
    import typer

    from mouselift.cli.main import app

    group = typer.main.get_command(app)
    names = {("fit",), ("prepare",), ("reconstruct",), ("infer",), ("eval",),
             ("train", "mvdiff"), ("train", "gslrm")}
    for words in names:
        command = group
        for word in words:
            command = command.commands[word]
        assert "--threads" in {o for p in command.params for o in p.opts}, words
