"""``mouselift view``: Gaussians, cameras, images and numbers in the browser (viser)."""

from __future__ import annotations

from pathlib import Path

import typer

EPILOG = """\
**Examples**

A fit of a sample: its Gaussians, the sample's cameras with their images, the metrics:

    mouselift view out/fit

The same, naming the sample (PATH is the sample, --fit its `mouselift fit` output):

    mouselift view out/dataset/sample_000000 --fit out/fit

Any Gaussian PLY, or a folder of per-frame PLYs (a frame slider and a Play button):

    mouselift view out/fit/gaussians.ply
    mouselift view out/video_frames

An `infer` / `reconstruct` output folder, with the real views of a sample next to the generated
ones (the `cameras` dropdown switches between them):

    mouselift view out/infer --sample out/dataset/sample_000000

On a GPU server, from your laptop: keep the default 127.0.0.1 on the server and tunnel the port,
then open http://127.0.0.1:8080 on the laptop:

    ssh -L 8080:127.0.0.1:8080 gpu-server     # on the laptop
    mouselift view out/fit --port 8080        # on gpu-server

Prints the URL to open; Ctrl-C stops the viewer. If the port is taken the next free one is used
(and printed); `--port 0` lets the system choose.
"""


def view(
    path: Path = typer.Argument(..., help="A Gaussian PLY, a folder of per-frame PLYs, an output folder (fit, reconstruct, infer) or a prepared sample (with --fit)."),
    fit: Path | None = typer.Option(None, "--fit", help="When PATH is a prepared sample: the output folder of `mouselift fit` on it."),
    sample: Path | None = typer.Option(None, "--sample", help="A prepared sample whose cameras and images (the real views) to show with the Gaussians."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every network, with a warning)."),
    port: int = typer.Option(8080, "--port", "-p", min=0, max=65535, help="Port to listen on (0: any free one)."),
    fps: float = typer.Option(10.0, "--fps", min=0.1, max=120.0, help="Playback speed of sequences (frames per second)."),
) -> None:
    """Show Gaussians in the browser: splats, frames, cameras with their images, numbers."""
    from ..viewer import ViewerServer, load_scene, serve_until_stopped

    scene = load_scene(path, fit=fit, sample=sample)
    for note in scene.notes:
        typer.echo(f"note: {note}", err=True)
    if host in ("0.0.0.0", "::", ""):
        typer.echo(f"warning: --host {host or '0.0.0.0'} serves the viewer to every network this "
                   "machine is on, to anyone, without a password; prefer the default 127.0.0.1 "
                   "and an SSH tunnel (see --help)", err=True)
    cameras = ", ".join(f"{len(v)} {kind}" for kind, v in scene.views.items()) or "none"
    typer.echo(f"{scene.kind} {scene.source}: {len(scene)} frame(s), "
               f"{len(scene.gaussians(0))} Gaussians, cameras: {cameras}")

    def announce(server: ViewerServer) -> None:
        if port and server.port != port:
            typer.echo(f"note: port {port} is in use; serving on {server.port}", err=True)
        typer.echo(f"viewer at {server.url} (Ctrl-C stops it)")

    serve_until_stopped(scene, host=host, port=port, fps=fps, on_start=announce)
    typer.echo("viewer stopped")
