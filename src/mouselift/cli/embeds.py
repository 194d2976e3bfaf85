"""``mouselift embeds``: a rig's view prompt embeddings, from a pipeline's own text encoder."""

from __future__ import annotations

from pathlib import Path

import typer

EPILOG = """\
**Examples**

The mouse rig of a prepared dataset (its cameras relative to cam_000), encoded with FaceLift's
text encoder, saved beside the rig:

    mouselift embeds --pipeline checkpoints/mvdiffusion/pipeckpts --rig data/mouse512 --out rigs/mouse

FaceLift's own six views at 512 px, written into the pipeline folder itself (its `rig/`):

    mouselift embeds --pipeline checkpoints/mvdiffusion/pipeckpts --rig facelift --into-pipeline

FaceLift's precomputed embeddings (`mvdiffusion/data/fixed_prompt_embeds_6view/clr_embeds.pt`)
for a pipeline folder without `text_encoder/`:

    mouselift embeds --pipeline checkpoints/mvdiffusion/pipeckpts --rig facelift --from-file clr_embeds.pt --into-pipeline

Another input camera, another image size:

    mouselift embeds --pipeline PIPE --rig data/mouse512 --reference-view 2 --image-size 256 --out rigs/cam2

Writes `rig.json` (views: name, prompt, K, w2c, size) and `prompt_embeds.safetensors`
(`(views, 77, width)`, float32, with the rig's fingerprint). The width must equal the UNet's
`cross_attention_dim` (1024 for FaceLift): embeddings from another text encoder are refused.
"""


def embeds(
    pipeline: Path = typer.Option(
        ..., "--pipeline", "-p", help="Stage-1 pipeline folder (FaceLift's pipeckpts or ours)."
    ),
    rig: str = typer.Option(
        ..., "--rig", "-r",
        help="'facelift', a prepared dataset folder (its cameras), or a rig folder / rig.json.",
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Folder for rig.json + embeddings."),
    into_pipeline: bool = typer.Option(
        False, "--into-pipeline", help="Also write them to PIPELINE/rig/ (used by default there)."
    ),
    reference_view: int = typer.Option(
        0, "--reference-view", help="Dataset rigs: the view used as the input view."
    ),
    image_size: int | None = typer.Option(
        None, "--image-size", help="Image side of the rig in pixels (default: the dataset's, 512 for facelift)."
    ),
    from_file: Path | None = typer.Option(
        None, "--from-file",
        help="FaceLift's precomputed embeddings (clr_embeds.pt, a (6, 77, 1024) tensor) for --rig facelift, instead of encoding the prompts.",
    ),
) -> None:
    """Encode a rig's view prompts with the pipeline's text encoder and save them with the rig."""
    from ..data.dataset_rig import resolve_rig
    from ..errors import ConfigError
    from ..mvdiff.embeds import import_rig_embeddings, make_rig_embeddings

    if out is None and not into_pipeline:
        raise ConfigError("say where to write the embeddings: --out DIR and/or --into-pipeline")
    the_rig = resolve_rig(rig, resolution=image_size, reference_view=reference_view)
    if from_file is not None:
        result = import_rig_embeddings(pipeline, the_rig, from_file, out_dir=out,
                                       into_pipeline=into_pipeline)
    else:
        result = make_rig_embeddings(pipeline, the_rig, out_dir=out, into_pipeline=into_pipeline)
    typer.echo(the_rig.summary())
    for k, view in enumerate(the_rig.views):
        typer.echo(f"  {k}: {view.name:<12} {view.prompt}")
    typer.echo(f"embeddings {tuple(result.prompt_embeds.shape)} written to {result.folder}")
