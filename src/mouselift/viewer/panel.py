"""The text of the viewer's side panel (Markdown), built from a scene without any server."""

from __future__ import annotations

from .scene import ViewerScene


def format_number(value: float) -> str:
    """An integer as it is, a float with 4 significant digits (``25.1234`` → ``25.12``)."""
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


def metrics_table(metrics: dict[str, float]) -> str:
    """A two-column Markdown table of flattened numbers (``""`` when there are none)."""
    if not metrics:
        return ""
    rows = [f"| {name} | {format_number(value)} |" for name, value in metrics.items()]
    return "\n".join(["| number | value |", "|:--|--:|", *rows])


def info_markdown(scene: ViewerScene, index: int, num_gaussians: int | None,
                  error: str | None = None) -> str:
    """The panel for frame ``index``: source, frame, number of Gaussians (``None``: not read),
    the scene's numbers, the frame's own numbers, notes, and ``error`` when the frame could not
    be read."""
    frame = scene.frames[index]
    lines = [f"**{scene.kind}** `{scene.source}`", ""]
    if len(scene) > 1:
        lines += [f"frame **{index + 1} / {len(scene)}**: `{frame.name}`", ""]
    if num_gaussians is not None:
        lines += [f"**{num_gaussians}** Gaussians (DC colour)", ""]
    if error:
        lines += [f"**cannot show this frame**: {error}", ""]
    if table := metrics_table(scene.metrics):
        lines += [table, ""]
    if table := metrics_table(frame.metrics):
        lines += ["numbers of this frame", "", table, ""]
    lines += [f"- {note}" for note in scene.notes]
    return "\n".join(lines).rstrip() + "\n"


__all__ = ["format_number", "info_markdown", "metrics_table"]
