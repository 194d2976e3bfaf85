"""``mouselift turntable``: orbit video and multi-view grid of a Gaussian PLY."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import ConfigError

EPILOG = """\
**Examples**

A 60-frame orbit at 256×256 around the origin (Z up, 20° elevation, auto field of view):

    mouselift turntable out/fit_000120/gaussians.ply out/fit_000120/orbit.mp4

Higher, 512×384, black background, a fixed 30° field of view:

    mouselift turntable splat.ply orbit.mp4 --elevation 40 --size 512x384 --bg black --fov 30

A grid of the views of a sample's cameras (and no video):

    mouselift turntable splat.ply --grid data/mouse128/sample_000120/opencv_cameras.json g.png

A PLY in a Y-up world (e.g. from another tool):

    mouselift turntable other.ply orbit.mp4 --up y

The orbit: `--frames` cameras evenly spaced in azimuth at `--elevation` degrees and distance
`--radius` around `--target`, looking at it with `--up` upwards. `--fov auto` fits the opaque
Gaussians in the frame.
"""

def turntable(
    ply: Path = typer.Argument(..., help="Gaussian splat PLY (graphdeco layout)."),
    out: Path | None = typer.Argument(
        None, help="MP4 to write (H.264). May be left out when --grid is given."
    ),
    frames: int = typer.Option(60, "--frames", "-n", min=1, help="Frames of the orbit."),
    fps: float = typer.Option(30.0, "--fps", min=0.1, help="Frame rate."),
    elevation: float = typer.Option(
        20.0, "--elevation", min=-89.0, max=89.0, help="Elevation above the orbit plane (deg)."
    ),
    radius: float = typer.Option(2.7, "--radius", min=1e-6, help="Camera distance to --target."),
    size: str = typer.Option("256", "--size", help="Frame size: N or WxH (even)."),
    fov: str = typer.Option(
        "auto", "--fov", help="Horizontal field of view in degrees, or 'auto' (fit the Gaussians)."
    ),
    background: str = typer.Option(
        "white", "--background", "--bg", help="white, black, grey, R,G,B in [0,1] or #rrggbb."
    ),
    up: str = typer.Option(
        "z", "--up", help="World up axis: x, y, z (optionally -y etc.) or ux,uy,uz."
    ),
    target: str = typer.Option("0,0,0", "--target", help="Orbit centre x,y,z."),
    start_azimuth: float = typer.Option(0.0, "--start-azimuth", help="Azimuth of frame 0 (deg)."),
    crf: int = typer.Option(18, "--crf", min=0, max=51, help="H.264 quality (lower = better)."),
    grid: tuple[Path, Path] | None = typer.Option(
        None,
        "--grid",
        metavar="CAMERAS.json OUT.png",
        help="Also render the cameras of an opencv_cameras.json into a grid PNG.",
    ),
    columns: int | None = typer.Option(
        None, "--columns", min=1, help="Views per row of the grid. [default: all]"
    ),
    device: str = typer.Option("cpu", "--device", help="Torch device (cpu, cuda)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Render an orbit video of a Gaussian PLY (and/or a grid PNG of given cameras)."""
    from ..cameras import read_opencv_cameras
    from ..devices import resolve_device
    from ..images import parse_background
    from ..splat import read_ply
    from ..splat.turntable import (
        parse_fov,
        parse_size,
        parse_up,
        parse_vector,
        write_grid,
        write_turntable,
    )

    if out is None and grid is None:
        raise ConfigError("nothing to do: give OUT.mp4 and/or --grid CAMERAS.json OUT.png")
    if out is not None and out.suffix.lower() != ".mp4":
        raise ConfigError(f"{out}: the video must be an .mp4 file")
    bg = parse_background(background, "--background")
    width, height = parse_size(size, "--size")
    centre = parse_vector(target, "--target")
    up_axis = parse_up(up, "--up")
    fov_deg = parse_fov(fov, "--fov")
    torch_device = resolve_device(device)
    cameras = read_opencv_cameras(grid[0]) if grid is not None else None
    gaussians = read_ply(ply, device=torch_device)

    if out is not None:
        write_turntable(
            gaussians,
            out,
            frames=frames,
            fps=fps,
            radius=radius,
            elevation_deg=elevation,
            size=(width, height),
            fov_deg=fov_deg,
            background=bg,
            target=centre,
            up=up_axis,
            start_azimuth_deg=start_azimuth,
            crf=crf,
            progress=not quiet,
        )
        typer.echo(f"wrote {out} ({frames} frames, {width}×{height}, {len(gaussians)} Gaussians)")
    if grid is not None and cameras is not None:
        sheet = write_grid(gaussians, cameras, grid[1], background=bg, columns=columns,
                           progress=not quiet)
        typer.echo(f"wrote {grid[1]} ({len(cameras)} views, {sheet.width}×{sheet.height})")
