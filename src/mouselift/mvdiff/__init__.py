"""Stage 1: multi-view diffusion on diffusers (FaceLift-compatible UNet, rig-defined views).

* :mod:`~mouselift.mvdiff.attention` — the multi-view self-attention processor (no parameters).
* :mod:`~mouselift.mvdiff.unet` — the stock diffusers UNet; loads FaceLift's ``pipeckpts/unet``.
* :mod:`~mouselift.mvdiff.pipeline` — :class:`MultiViewDiffusionPipeline`: load / save pipeline
  folders, sample ``V`` views from one image (DDIM or DPM-Solver++).
* :mod:`~mouselift.mvdiff.camera_embedding` — optional zero-initialised camera conditioning.
* :mod:`~mouselift.mvdiff.trainer` — :func:`train_mvdiff` (accelerate), with
  :mod:`~mouselift.mvdiff.dataset`, :mod:`~mouselift.mvdiff.objective`,
  :mod:`~mouselift.mvdiff.checkpoints`.
* :mod:`~mouselift.mvdiff.embeds` — prompt embeddings of a rig (``mouselift embeds``).
"""

from .attention import MultiViewAttnProcessor, set_multiview_attention
from .camera_embedding import CameraEmbedding, MultiViewDenoiser, relative_pose_features
from .config import PipelineArchitecture, load_architecture
from .pipeline import MultiViewDiffusionPipeline, MultiViewOutput
from .train_config import TrainMVDiffConfig, load_train_config
from .trainer import TrainResult, train_mvdiff
from .unet import MultiViewSettings, UNetArchitecture, build_unet, load_unet

__all__ = [
    "CameraEmbedding",
    "MultiViewAttnProcessor",
    "MultiViewDenoiser",
    "MultiViewDiffusionPipeline",
    "MultiViewOutput",
    "MultiViewSettings",
    "PipelineArchitecture",
    "TrainMVDiffConfig",
    "TrainResult",
    "UNetArchitecture",
    "build_unet",
    "load_architecture",
    "load_train_config",
    "load_unet",
    "relative_pose_features",
    "set_multiview_attention",
    "train_mvdiff",
]
