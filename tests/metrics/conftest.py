"""Session fixtures: random VGG16/VGG19/LPIPS weights, and saved in the real file layouts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from metrics_testutils import random_lin_state, random_vgg_state


@pytest.fixture(scope="session")
def vgg16_state() -> dict:
    return random_vgg_state("vgg16", seed=0)


@pytest.fixture(scope="session")
def vgg19_state() -> dict:
    return random_vgg_state("vgg19", seed=3)


@pytest.fixture(scope="session")
def lin_state() -> dict:
    return random_lin_state(seed=1)


@pytest.fixture(scope="session")
def vgg16_file(tmp_path_factory: pytest.TempPathFactory, vgg16_state: dict) -> Path:
    path = tmp_path_factory.mktemp("weights") / "vgg16-random.pth"
    torch.save(vgg16_state, path)
    return path


@pytest.fixture(scope="session")
def lin_file(tmp_path_factory: pytest.TempPathFactory, lin_state: dict) -> Path:
    path = tmp_path_factory.mktemp("weights") / "lpips-vgg-lin.pth"
    torch.save(lin_state, path)
    return path
