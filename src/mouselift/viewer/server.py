"""The browser viewer: a viser server showing a :class:`~.scene.ViewerScene`.

:class:`ViewerServer` starts viser's web server in a background thread (viser is imported only
here, when a server starts, so ``import mouselift.viewer`` and ``mouselift --help`` stay fast)
and fills it:

* the Gaussians of the current frame as splats (``/gaussians``; DC colour, see :mod:`.convert`),
  replaced when the frame changes;
* for sequences, a ``frame`` slider, a Play/Pause button and an ``fps`` number; playback loops;
* the cameras of each kind of view (``real``: the sample's, held-out ``eval/`` ones in orange;
  ``generated``: the generated views') as frustums with their images, under
  ``/cameras/<kind>/``; a ``cameras`` dropdown picks the kind shown (or ``hidden``); clicking a
  frustum moves that browser's camera to it;
* a Markdown panel with the source, the frame, the number of Gaussians and the numbers
  (:mod:`.panel`), and the output folder's images (input, generated views, renders).

The scene's world is shown with Z up (viser's ``+z`` up direction); the browser opens on
:func:`.convert.opening_view`. The server binds ``host:port``; when the port is taken viser
moves on to the next free one, and ``port=0`` lets the system choose: :attr:`ViewerServer.port`
is the port actually bound.
"""

from __future__ import annotations

import contextlib
import io
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import UnidentifiedImageError

from ..errors import ConfigError, MouseliftError
from .convert import frustum_pose, opening_view, splat_arrays
from .panel import info_markdown
from .scene import GENERATED, REAL, ViewerScene, read_rgb

#: Label of the dropdown choice that hides every frustum.
HIDDEN = "hidden"
#: Frustum colours (RGB 0–255) by kind; held-out real cameras get their own.
FRUSTUM_COLOURS = {REAL: (40, 90, 200), GENERATED: (30, 150, 70)}
HELD_OUT_COLOUR = (235, 120, 20)
#: Frustum depth as a fraction of the median camera distance to the opening view's target.
FRUSTUM_DEPTH = 0.2
#: Longest side of an image sent to the side panel (pixels).
PANEL_IMAGE_SIZE = 768
#: Default playback speed of sequences (frames per second).
DEFAULT_FPS = 10.0


def check_host(host: str) -> None:
    """Raise :class:`ConfigError` unless this machine can listen on ``host`` (viser would
    otherwise retry forever on an address that is not ours)."""
    try:
        infos = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(f"--host {host}: unknown address ({exc})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigError(f"--host {host}: cannot listen on this address "
                              f"({exc.strerror or exc})") from None


def browser_url(host: str, port: int) -> str:
    """The URL to open: ``http://HOST:PORT/`` (all-interfaces addresses → this machine's
    loopback; IPv6 in brackets)."""
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


class ViewerServer:
    """A running viewer of ``scene`` on ``host:port`` (module docstring). Started by the
    constructor; :meth:`stop` (or leaving a ``with`` block) stops it.

    ``fps``: playback speed of sequences. Methods may be called from any thread.
    """

    def __init__(self, scene: ViewerScene, *, host: str = "127.0.0.1", port: int = 8080,
                 fps: float = DEFAULT_FPS) -> None:
        if not fps > 0:
            raise ConfigError(f"--fps {fps}: must be positive")
        check_host(host)
        import viser  # lazily: a web server and its client are not needed to parse the CLI

        self.scene = scene
        self.host = host
        self.frame_index = 0
        self.views_shown: str | None = None
        self.frame_error: str | None = None
        self._lock = threading.RLock()
        self._stopped = threading.Event()
        self._playing = threading.Event()
        self._frustums: dict[str, list[Any]] = {}
        self._splats: Any = None
        with contextlib.redirect_stdout(io.StringIO()):  # viser prints its own banner
            self._viser = viser.ViserServer(host=host, port=port, label="mouselift view",
                                            verbose=False)
        try:
            self._build(fps)
        except BaseException:
            self.stop()
            raise
        self._player = threading.Thread(target=self._play_loop, name="mouselift-view-play",
                                        daemon=True)
        self._player.start()

    # ------------------------------------------------------------------ public

    @property
    def port(self) -> int:
        """The port actually bound (may differ from the one asked for)."""
        return int(self._viser.get_port())

    @property
    def url(self) -> str:
        return browser_url(self.host, self.port)

    @property
    def playing(self) -> bool:
        return self._playing.is_set()

    def show_frame(self, index: int) -> None:
        """Show frame ``index`` (clamped to the sequence); a frame that cannot be read keeps
        the previous splats and shows the error in the panel."""
        index = int(min(max(index, 0), len(self.scene) - 1))
        with self._lock:
            try:
                gaussians = self.scene.gaussians(index)
            except MouseliftError as exc:
                self.frame_index, self.frame_error = index, str(exc)
                self._info.content = info_markdown(self.scene, index, None, str(exc))
                return
            if len(gaussians):  # the same node name: viser replaces the previous frame's
                arrays = splat_arrays(gaussians)
                self._splats = self._viser.scene.add_gaussian_splats(
                    "/gaussians", centers=arrays.centers, covariances=arrays.covariances,
                    rgbs=arrays.rgbs, opacities=arrays.opacities)
            elif self._splats is not None:  # an empty frame (e.g. all pruned) shows nothing
                self._splats.remove()
                self._splats = None
            self.frame_index, self.frame_error = index, None
            self._info.content = info_markdown(self.scene, index, len(gaussians))
            if self._slider is not None and self._slider.value != index:
                self._slider.value = index

    def show_views(self, kind: str) -> None:
        """Show the frustums of ``kind`` (``"real"``, ``"generated"``) or none (``"hidden"``)."""
        if kind != HIDDEN and kind not in self._frustums:
            raise ValueError(f"no {kind!r} views; have {sorted(self._frustums)}")
        with self._lock:
            for name, handles in self._frustums.items():
                for handle in handles:
                    handle.visible = name == kind
            self.views_shown = None if kind == HIDDEN else kind
            if self._views_dropdown is not None and self._views_dropdown.value != kind:
                self._views_dropdown.value = kind

    def play(self, playing: bool = True) -> None:
        """Start (or with ``False`` pause) the playback of a sequence."""
        if len(self.scene) < 2:
            return
        if playing:
            self._playing.set()
        else:
            self._playing.clear()
        if self._play_button is not None:
            self._play_button.label = "Pause" if playing else "Play"

    def stop(self) -> None:
        """Stop playback and the web server (idempotent)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._playing.clear()
        with contextlib.redirect_stdout(io.StringIO()):  # viser says "server stopped"
            self._viser.stop()

    def __enter__(self) -> ViewerServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ building

    def _build(self, fps: float) -> None:
        first = self.scene.gaussians(0)
        centres = np.array([v.camera.center for views in self.scene.views.values()
                            for v in views]).reshape(-1, 3)
        opening = opening_view(first, centres)
        camera = self._viser.initial_camera
        camera.position = opening.position
        camera.look_at = opening.look_at
        camera.up = opening.up
        camera.fov = opening.fov

        gui = self._viser.gui
        self._slider = self._play_button = self._fps = self._views_dropdown = None
        if len(self.scene) > 1:
            with gui.add_folder("frames"):
                self._slider = gui.add_slider("frame", min=0, max=len(self.scene) - 1, step=1,
                                              initial_value=0)
                self._play_button = gui.add_button("Play")
                self._fps = gui.add_number("fps", initial_value=float(fps), min=0.1, max=120.0,
                                           step=0.1)
            self._slider.on_update(self._on_slider)
            self._play_button.on_click(lambda _: self.play(not self.playing))
        self._add_frustums(centres, opening.look_at)
        if self._frustums:
            kinds = list(self._frustums)
            self._views_dropdown = gui.add_dropdown("cameras", options=[*kinds, HIDDEN],
                                                   initial_value=kinds[0])
            self._views_dropdown.on_update(self._on_dropdown)
            self.show_views(kinds[0])
        self._info = gui.add_markdown(info_markdown(self.scene, 0, len(first)))
        if self.scene.images:
            with gui.add_folder("images", expand_by_default=False):
                for title, path in self.scene.images:
                    try:
                        image = read_rgb(path, PANEL_IMAGE_SIZE)
                    except (UnidentifiedImageError, OSError):
                        continue  # an unreadable picture is left out of the panel
                    gui.add_image(image, label=title)
        self.show_frame(0)

    def _on_slider(self, _: Any) -> None:
        if self._slider is not None and int(self._slider.value) != self.frame_index:
            self.show_frame(int(self._slider.value))

    def _on_dropdown(self, _: Any) -> None:
        if self._views_dropdown is not None:
            value = self._views_dropdown.value
            if value != (self.views_shown or HIDDEN):
                self.show_views(value)

    def _add_frustums(self, centres: np.ndarray, target: np.ndarray) -> None:
        if not len(centres):
            return
        depth = FRUSTUM_DEPTH * float(np.median(np.linalg.norm(centres - target, axis=1)))
        for kind, views in self.scene.views.items():
            handles = []
            for k, view in enumerate(views):
                pose = frustum_pose(view.camera)
                colour = HELD_OUT_COLOUR if view.held_out else FRUSTUM_COLOURS[kind]
                handle = self._viser.scene.add_camera_frustum(
                    f"/cameras/{kind}/{k:03d}", fov=pose.fov, aspect=pose.aspect,
                    scale=pose.scale_for_depth(depth), thickness=1.5, thickness_units="screen",
                    color=colour, image=view.image, wxyz=pose.wxyz, position=pose.position)
                handle.on_click(_look_through(pose.wxyz, pose.position))
                handles.append(handle)
            self._frustums[kind] = handles

    def _play_loop(self) -> None:
        while not self._stopped.is_set():
            fps = float(self._fps.value) if self._fps is not None else DEFAULT_FPS
            if self._stopped.wait(1.0 / max(fps, 0.1)):
                return
            if self._playing.is_set():
                self.show_frame((self.frame_index + 1) % len(self.scene))


def serve_until_stopped(scene: ViewerScene, *, host: str = "127.0.0.1", port: int = 8080,
                        fps: float = DEFAULT_FPS,
                        on_start: Callable[[ViewerServer], None] | None = None) -> None:
    """Serve ``scene`` until Ctrl-C (SIGINT) or SIGTERM, then stop the server and return.

    ``on_start(server)`` runs once the server is up (e.g. to print :attr:`ViewerServer.url`).
    An interrupt while the server starts returns as cleanly; the signal handlers in place before
    the call are restored.
    """
    server = None
    previous = _stop_on_signals()
    try:
        server = ViewerServer(scene, host=host, port=port, fps=fps)
        if on_start is not None:
            on_start(server)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop_on_signals() -> dict[int, Any]:
    """Make SIGINT (Ctrl-C, also when a shell started us in the background with it ignored)
    and SIGTERM raise KeyboardInterrupt in the main thread; returns the handlers to restore."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    return {signum: signal.signal(signum, interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}


def _look_through(wxyz: np.ndarray, position: np.ndarray) -> Any:
    """A click callback that moves the clicking browser's camera onto a frustum."""

    def callback(event: Any) -> None:
        client = getattr(event, "client", None)
        if client is not None:
            with client.atomic():
                client.camera.wxyz = wxyz
                client.camera.position = position

    return callback


__all__ = ["DEFAULT_FPS", "HIDDEN", "ViewerServer", "browser_url", "check_host",
           "serve_until_stopped"]
