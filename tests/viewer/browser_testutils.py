"""Headless Debian ``chromium`` driven over the Chrome DevTools protocol (no extra packages).

The protocol is JSON over a websocket; ``websockets`` comes with viser. WebGL runs in software
(ANGLE on SwiftShader), so the viewer's splats are drawn without a GPU. One :class:`Browser` is
one chromium process with one page, killed by :meth:`Browser.close` (a context manager).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from websockets.sync.client import connect

CHROMIUM = shutil.which("chromium")
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--no-first-run",
    "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
    "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
)  # fmt: skip


class Browser:
    """A headless chromium page of ``width × height`` CSS pixels (device scale 1)."""

    def __init__(self, width: int = 1024, height: int = 768, *, timeout: float = 60.0) -> None:
        if CHROMIUM is None:
            raise RuntimeError("chromium is not installed")
        self.width, self.height, self.timeout = width, height, timeout
        self._profile = Path(tempfile.mkdtemp(prefix="mouselift-chromium-"))
        self._process = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self._profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            # chromium's own temporary folders (singleton socket) go into the profile, removed
            # with it, instead of piling up in /tmp
            env={**os.environ, "TMPDIR": str(self._profile)},
        )
        self._next_id = 0
        try:
            port = self._devtools_port()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                targets = json.load(r)
            page = next(t for t in targets if t.get("type") == "page")
            self._ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
            self.call("Page.enable")
            self.call("Runtime.enable")
            self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                      deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.close()
            raise

    def _devtools_port(self) -> int:
        marker = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"chromium exited with status {self._process.returncode}")
            text = marker.read_text() if marker.is_file() else ""
            if text.strip():
                return int(text.split()[0])
            time.sleep(0.1)
        raise TimeoutError("chromium did not open its DevTools port")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one protocol command and return its result (events in between are dropped)."""
        self._next_id += 1
        ident = self._next_id
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while True:
            message = json.loads(self._ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def open(self, url: str) -> None:
        """Navigate to ``url`` and wait until the document has loaded."""
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float | None = None) -> None:
        """Poll until a JavaScript expression is truthy."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.evaluate(f"!!({expression})"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"page never satisfied: {expression}")
            time.sleep(0.2)

    def text(self) -> str:
        return str(self.evaluate("document.body ? document.body.innerText : ''"))

    def press(self, key: str, code: int) -> None:
        """Press and release a key (``key`` name, Windows virtual key ``code``) on the focus."""
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key=key, code=key,
                      windowsVirtualKeyCode=code)

    def dismiss_notifications(self) -> None:
        """Close the page's notifications (viser warns that WebGL runs in software)."""
        self.evaluate("document.querySelectorAll('.mantine-Notification-root button')"
                      ".forEach(b => b.click())")

    def screenshot(self) -> np.ndarray:
        """The page as uint8 RGB ``(height, width, 3)``."""
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            return np.asarray(image.convert("RGB"))

    def settled_screenshot(self, *, timeout: float = 60.0, interval: float = 0.5,
                           min_wait: float = 1.0) -> np.ndarray:
        """A screenshot once the picture has stopped changing (two in a row equal to within
        1/255 on average), so splats that are still being sorted and drawn are complete."""
        time.sleep(min_wait)
        deadline = time.monotonic() + timeout
        previous = self.screenshot()
        while True:
            time.sleep(interval)
            current = self.screenshot()
            if np.abs(current.astype(np.int16) - previous).mean() < 1.0:
                return current
            if time.monotonic() > deadline:
                raise TimeoutError("the picture never settled")
            previous = current

    def close(self) -> None:
        ws = getattr(self, "_ws", None)
        if ws is not None:
            ws.close()
        if self._process.poll() is None:  # chromium and its helpers: its own process group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=30)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def changed_fraction(a: np.ndarray, b: np.ndarray, threshold: int = 24) -> float:
    """Fraction of pixels whose largest channel difference exceeds ``threshold``."""
    return float((np.abs(a.astype(np.int16) - b).max(axis=-1) > threshold).mean())


def save_png(image: np.ndarray, *paths: Path) -> None:
    """Write ``image`` to every path (folders created)."""
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)
