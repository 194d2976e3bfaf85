"""The browser viewer (``mouselift view``): Gaussians, cameras, images and numbers in viser.

:func:`load_scene` reads what a path holds (a PLY, a sequence of PLYs, an output folder of
``fit`` / ``reconstruct`` / ``infer``, a prepared sample with its fit) into a
:class:`ViewerScene`, without any server; :class:`ViewerServer` shows a scene in the browser
(viser, imported only when a server starts). Conventions of the conversions to viser:
:mod:`.convert`.

```python
from mouselift.viewer import ViewerServer, load_scene

scene = load_scene("out/fit")                       # or a .ply, a folder of frames, a sample …
with ViewerServer(scene, host="127.0.0.1", port=8080) as server:
    print(server.url)                               # open it; Ctrl-C / leaving the block stops
    ...
```
"""

from .scene import (
    GENERATED,
    REAL,
    CameraView,
    Frame,
    ViewerError,
    ViewerScene,
    flatten_numbers,
    load_scene,
)
from .server import ViewerServer, browser_url, serve_until_stopped

__all__ = [
    "GENERATED",
    "REAL",
    "CameraView",
    "Frame",
    "ViewerError",
    "ViewerScene",
    "ViewerServer",
    "browser_url",
    "flatten_numbers",
    "load_scene",
    "serve_until_stopped",
]
