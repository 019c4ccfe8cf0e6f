"""Headless Chromium driven over the DevTools protocol on a pipe: no websocket, no port, no package.

Chromium started with ``--remote-debugging-pipe`` reads protocol messages (JSON, each ended by a
NUL byte) on its file descriptor 3 and answers on 4. That is enough to open a local page, read its
DOM through ``Runtime.evaluate`` and take a screenshot, with the standard library alone. Used by
``tests/test_htmlview_browser.py`` and by ``make screenshot``::

    .venv/bin/python tests/chromium.py PAGE.html OUT.png [--width 1000]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
         "--disable-extensions", "--mute-audio", "--hide-scrollbars", "--remote-debugging-pipe")
"""The flags known to work on these machines: background networking off (the network is closed)."""


class BrowserError(RuntimeError):
    """Chromium did not start, answered with an error, or took longer than the time limit."""


def executable() -> str | None:
    """The Chromium binary: $CHROMIUM, else ``chromium`` or ``chromium-browser`` on the PATH."""
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """One headless Chromium process with a fresh profile; one page at a time (``open``)."""

    def __init__(self, binary: str | None = None, timeout: float = 60) -> None:
        binary = binary or executable()
        if binary is None:
            raise BrowserError("no chromium on the PATH (apt-get install -y chromium)")
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="kt-chromium-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire() -> None:  # in the child: the protocol's descriptors 3 and 4
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            pass_fds=(3, 4), preexec_fn=wire, stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=self.log)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._id = 0
        self._events: list[dict[str, Any]] = []
        self.session: str | None = None

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, params: dict[str, Any] | None, session: str | None) -> int:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            raise BrowserError(f"chromium exited: {self._log_tail()}") from None
        return self._id

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_chrome], [], [], left)[0]:
                raise BrowserError(f"no answer from chromium in {self.timeout:.0f} s")
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise BrowserError(f"chromium exited: {self._log_tail()}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict[str, Any] | None = None, page: bool = True) -> dict[str, Any]:
        """Send one command (to the open page unless ``page`` is false) and return its result."""
        sent = self._send(method, params, self.session if page else None)
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._receive(deadline)
            if message.get("id") == sent:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self._events.append(message)

    def wait_event(self, method: str) -> dict[str, Any]:
        """The next event named ``method`` (events that came with earlier answers count)."""
        deadline = time.monotonic() + self.timeout
        while True:
            for k, event in enumerate(self._events):
                if event["method"] == method:
                    return self._events.pop(k)
            message = self._receive(deadline)
            if "method" in message:
                self._events.append(message)

    def open(self, path: Path, width: int = 1000, height: int = 800) -> None:
        """Load a local file in a new page of ``width`` x ``height`` CSS pixels; wait for its load event."""
        target = self.call("Target.createTarget", {"url": "about:blank"}, page=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 page=False)["sessionId"]
        self.call("Page.enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        self._events.clear()
        self.call("Page.navigate", {"url": path.resolve().as_uri()})
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serialisable values only)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def screenshot(self, full_page: bool = True) -> bytes:
        """PNG bytes of the page; ``full_page`` grows the viewport to the document's height first."""
        if full_page:
            width = self.evaluate("document.documentElement.clientWidth")
            height = self.evaluate("Math.ceil(document.documentElement.scrollHeight)")
            self.call("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": min(height, 16000), "deviceScaleFactor": 1,
                       "mobile": False})
        return base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])

    def _log_tail(self) -> str:
        self.log.seek(0)
        lines = self.log.read().decode("utf-8", "replace").splitlines()
        return " | ".join(line for line in lines[-5:] if "dbus" not in line) or "no output"

    def close(self) -> None:
        """Close the browser (politely, then by force) and remove its profile."""
        try:
            if self.process.poll() is None:
                with contextlib.suppress(BrowserError):
                    self.call("Browser.close", page=False)
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(10)
        finally:
            for fd in (self._to_chrome, self._from_chrome):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self.log.close()
            shutil.rmtree(self.profile, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``make screenshot``: a full-page PNG of one HTML file."""
    parser = argparse.ArgumentParser(description="Screenshot a local HTML page in headless Chromium.")
    parser.add_argument("page", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1000)
    args = parser.parse_args(argv)
    if not args.page.is_file():
        print(f"error: {args.page}: no such file", file=sys.stderr)
        return 1
    try:
        with Browser() as browser:
            browser.open(args.page, width=args.width)
            png = browser.screenshot()
    except BrowserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    from karabakh_tagger.files import atomic_write

    atomic_write(args.out, lambda tmp: tmp.write_bytes(png))
    print(f"wrote {args.out} ({len(png):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
