"""Stage 1: multi-view diffusion on diffusers (FaceLift-compatible UNet, rig-defined views).

* :mod:`~mouselift.mvdiff.attention` — the multi-view self-attention processor (no parameters).
* :mod:`~mouselift.mvdiff.unet` — the stock diffusers UNet; loads FaceLift's ``pipeckpts/unet``.
* :mod:`~mouselift.mvdiff.pipeline` — :class:`MultiViewDiffusionPipeline`: load / save pipeline
  folders, sample ``V`` views from one image.
* :mod:`~mouselift.mvdiff.solvers` — the table of solvers (DDIM, DPM-Solver++) and
  :class:`SamplingSettings` (solver, steps, guidance, eta; FaceLift's DDIM by default).
* :mod:`~mouselift.mvdiff.camera_embedding` — optional zero-initialised camera conditioning.
* :mod:`~mouselift.mvdiff.trainer` — :func:`train_mvdiff` (accelerate; checkpoints: the
  engine's, :mod:`mouselift.train.checkpoints`), with :mod:`~mouselift.mvdiff.dataset` and
  :mod:`~mouselift.mvdiff.losses`.
* :mod:`~mouselift.mvdiff.embeds` — prompt embeddings of a rig (``mouselift embeds``).
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "CameraEmbedding": ".camera_embedding",
    "MultiViewAttnProcessor": ".attention",
    "MultiViewDenoiser": ".camera_embedding",
    "MultiViewDiffusionPipeline": ".pipeline",
    "MultiViewOutput": ".pipeline",
    "MultiViewSettings": ".unet",
    "PipelineArchitecture": ".config",
    "SOLVERS": ".solvers",
    "SamplingSettings": ".solvers",
    "TrainMVDiffConfig": ".train_config",
    "TrainResult": ".trainer",
    "UNetArchitecture": ".unet",
    "build_unet": ".unet",
    "load_mvdiff_config": ".config",
    "load_train_mvdiff_config": ".train_config",
    "load_unet": ".unet",
    "relative_pose_features": ".camera_embedding",
    "set_multiview_attention": ".attention",
    "train_mvdiff": ".trainer",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "SOLVERS",
    "CameraEmbedding",
    "MultiViewAttnProcessor",
    "MultiViewDenoiser",
    "MultiViewDiffusionPipeline",
    "MultiViewOutput",
    "MultiViewSettings",
    "PipelineArchitecture",
    "SamplingSettings",
    "TrainMVDiffConfig",
    "TrainResult",
    "UNetArchitecture",
    "build_unet",
    "load_mvdiff_config",
    "load_train_mvdiff_config",
    "load_unet",
    "relative_pose_features",
    "set_multiview_attention",
    "train_mvdiff",
]
