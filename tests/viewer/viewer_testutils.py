"""Small scenes for the viewer tests: coloured Gaussian blobs, point-cloud PLYs, output folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mouselift.cameras import Camera, look_at, write_opencv_cameras
from mouselift.splat import Gaussians, write_ply

#: Colours of the test blobs: a brown mouse and a pink one.
BROWN = (0.45, 0.33, 0.25)
PINK = (0.9, 0.5, 0.6)


def blob(centre=(0.0, 0.0, 0.0), rgb=BROWN, n: int = 1500, seed: int = 0,
         spread=(0.25, 0.12, 0.1), sigma: float = 0.03, opacity: float = 0.8) -> Gaussians:
    """``n`` isotropic Gaussians (std ``sigma``) scattered normally with ``spread`` around
    ``centre``, one colour, one opacity: a mouse-sized blob in FaceLift's units."""
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(n, 3, generator=g) * torch.tensor(spread) + torch.tensor(centre)
    return Gaussians.from_activated(
        means, torch.full((n, 3), sigma), torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(n, 1),
        torch.full((n,), opacity), torch.tensor([rgb]).repeat(n, 1))


def write_point_cloud_ply(path: Path, n: int = 10) -> Path:
    """An ASCII PLY of coloured points (x y z red green blue): a PLY, but not of Gaussians."""
    rows = [f"{i * 0.1} 0 0 255 0 0" for i in range(n)]
    header = ["ply", "format ascii 1.0", f"element vertex {n}", "property float x",
              "property float y", "property float z", "property uchar red",
              "property uchar green", "property uchar blue", "end_header"]
    path.write_text("\n".join(header + rows) + "\n")
    return path


def ring_cameras(count: int, size: int = 32, radius: float = 2.7) -> list[Camera]:
    """``count`` cameras on a horizontal circle looking at the origin (Z up), 50° FOV."""
    f = size / 2 / np.tan(np.radians(25.0))
    K = np.array([[f, 0.0, (size - 1) / 2], [0.0, f, (size - 1) / 2], [0.0, 0.0, 1.0]])
    cameras = []
    for k in range(count):
        angle = 2 * np.pi * k / count
        eye = radius * np.array([np.sin(angle), -np.cos(angle), 0.0])
        cameras.append(Camera(K, look_at(eye, np.zeros(3), np.array([0.0, 0.0, 1.0])),
                              size, size, name=f"view_{k}"))
    return cameras


def write_png(path: Path, rgb, size: int = 32, alpha: int | None = None) -> Path:
    """A one-colour PNG (RGB, or RGBA with ``alpha``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixel = [round(c * 255) for c in rgb] + ([] if alpha is None else [alpha])
    array = np.tile(np.array(pixel, np.uint8), (size, size, 1))
    Image.fromarray(array).save(path)
    return path


def write_infer_folder(folder: Path, report: dict) -> Path:
    """An ``infer``-like output: gaussians.ply, input.png, multiview.png, report.json and the
    generated views' cameras (3, images at views/view_K.png; view 2's image missing)."""
    folder.mkdir(parents=True)
    write_ply(folder / "gaussians.ply", blob(n=200))
    write_png(folder / "input.png", BROWN, alpha=255)
    write_png(folder / "multiview.png", PINK)
    (folder / "report.json").write_text(json.dumps(report))
    cameras = ring_cameras(3)
    write_opencv_cameras(folder / "opencv_cameras.json", cameras, sample_id="infer",
                         file_paths=[f"views/view_{k}.png" for k in range(3)])
    for k in range(2):
        write_png(folder / "views" / f"view_{k}.png", PINK)
    return folder
