"""Stage 1 on CUDA (skipped without a GPU): same views as on the CPU, bf16 sampling, a bf16
training step."""

from __future__ import annotations

import pytest
import torch

from mouselift.mvdiff import MultiViewDiffusionPipeline, load_train_mvdiff_config, train_mvdiff

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.gpu
@cuda
def test_cuda_sampling_matches_cpu(tiny_pipeline_dir):
    image = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))
    cpu = MultiViewDiffusionPipeline.from_pretrained(tiny_pipeline_dir)
    gpu = MultiViewDiffusionPipeline.from_pretrained(tiny_pipeline_dir, device="cuda")
    a = cpu(image, num_inference_steps=5, seed=3).images
    b = gpu(image, num_inference_steps=5, seed=3).images
    assert (a - b).abs().max() < 2e-3  # noise is drawn on the CPU: same draws on both
    gpu.to(dtype=torch.bfloat16)
    c = gpu(image, num_inference_steps=5, seed=3).images
    assert c.shape == a.shape and torch.isfinite(c).all()


@pytest.mark.gpu
@cuda
def test_cuda_bf16_training_step(mouse_dataset, tmp_path):
    config = load_train_mvdiff_config("tiny", {"dataset": str(mouse_dataset),
                                        "output_dir": str(tmp_path / "run"), "max_steps": 2,
                                        "mixed_precision": "bf16", "log_with": "none",
                                        "validation_samples": 0})
    result = train_mvdiff(config, progress=False)
    assert result.end_step == 2 and all(torch.isfinite(torch.tensor(result.losses)))
