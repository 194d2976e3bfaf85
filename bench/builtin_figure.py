"""The README's figure of the built-in models: one image → generated views → Gaussians.

For each of a few val samples of a prepared dataset made from a recording the models never saw,
``mouselift infer`` of that frame's camera-0 image with the built-in models (or
``MOUSELIFT_BUILTIN``), then rows: the input crop | the generated views; the real views of the
same cameras; frames of the Gaussians' turntable. Written as one PNG (``--out``). Not a
benchmark: a figure, rendered by the library's own functions.

    MOUSELIFT_BUILTIN=build/builtin/models .venv/bin/python bench/builtin_figure.py \\
        --recording out/unseen/rec --dataset out/unseen/ds --out docs/images/builtin.png
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import av
import numpy as np

from mouselift.data.layout import read_split
from mouselift.data.sample import load_sample_views
from mouselift.flows.infer import infer
from mouselift.images import WHITE, composite, image_grid, to_uint8
from mouselift.mvdiff.solvers import SamplingSettings

TURNTABLE_FRAMES = 6


def _turntable_frames(path: Path, count: int) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    picks = np.linspace(0, len(frames) - 1, count + 1).round().astype(int)[:-1]
    return [frames[i] for i in picks]


def _rgb(path: Path) -> np.ndarray:
    """An image file as uint8 RGB on white."""
    from PIL import Image

    with Image.open(path) as image:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
    alpha = rgba[..., 3:]
    return (255 * (rgba[..., :3] * alpha + (1 - alpha))).round().astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recording", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--samples", type=int, default=2)
    args = parser.parse_args()
    rows: list[list[np.ndarray | None]] = []
    val = read_split(args.dataset, "val")
    picks = np.linspace(0, len(val) - 1, args.samples).round().astype(int)
    with tempfile.TemporaryDirectory() as work:
        for k, index in enumerate(picks):
            sample = args.dataset / val[index]
            frame = json.loads((sample / "sample.json").read_text())["frame"]
            out = Path(work) / f"infer_{k}"
            infer(out, recording=args.recording, frame=frame, camera=0,
                  sampler=SamplingSettings(solver="dpm++", steps=20), turntable_frames=24,
                  progress=False)
            cameras = json.loads((out / "opencv_cameras.json").read_text())["frames"]
            generated = [_rgb(out / frame["file_path"]) for frame in cameras]
            real = load_sample_views(sample).in_order(
                [Path(frame["file_path"]).stem for frame in cameras], sample)
            rows.append([_rgb(out / "input.png"), *generated])
            rows.append([None, *to_uint8(composite(real.rgba, WHITE))])
            rows.append([None, *_turntable_frames(out / "turntable.mp4", TURNTABLE_FRAMES)])
    image_grid(rows).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
