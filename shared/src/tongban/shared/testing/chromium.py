"""Headless Chromium for tests (Debian's `chromium`; .ci/run installs it): pages that must
render in a browser (svc-queue's display board, the API docs) are opened, read and
photographed over the DevTools protocol."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import subprocess
import time

CHROMIUM = "/usr/bin/chromium"


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
    it reads commands on fd 3 and writes answers on fd 4, NUL-separated JSON), so no websocket
    library is needed. Blocking: call it from a thread."""

    def __init__(self, profile_dir: str, loopback_only: bool = False) -> None:
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()

        def wire_fds() -> None:
            # Park both ends above the low numbers first: dup2 onto 3 and 4 must not clobber them.
            a = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 100)
            b = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 100)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile_dir}",
             "--remote-debugging-pipe",
             # No name but the loopback resolves: a page that needs the internet (a CDN) shows it.
             *(["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"] if loopback_only else []),
             "about:blank"],
            preexec_fn=wire_fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.out, self.inp = to_chrome_w, from_chrome_r
        self.buffer = b""
        self.last_id = 0

    def _read(self) -> dict:
        while b"\0" not in self.buffer:
            chunk = os.read(self.inp, 65536)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.last_id += 1
        msg = {"id": self.last_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.out, json.dumps(msg).encode() + b"\0")
        while True:
            answer = self._read()
            if answer.get("id") == self.last_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]

    def open(self, url: str) -> str:
        """Open a tab at `url`; returns its session id."""
        target = self.send("Target.createTarget", {"url": url})["targetId"]
        return self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def evaluate(self, session: str, expression: str):  # noqa: ANN201
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        return result["result"].get("value")

    def wait_for(self, session: str, expression: str, expected, timeout: float = 15.0):  # noqa: ANN001, ANN201
        """Poll a JS expression until it equals `expected` (blocking; this runs in a thread)."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(session, expression)
            except RuntimeError as exc:  # a tab still loading has no context to evaluate in yet
                if "execution context" not in str(exc):
                    raise
                value = None
            if value == expected:
                return value
            time.sleep(0.05)
        raise AssertionError(f"{expression} stayed {value!r}, expected {expected!r}")

    def screenshot(self, session: str) -> bytes:
        """A PNG of the tab as it is drawn now."""
        return base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"}, session)["data"])

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, OSError):
            self.send("Browser.close")
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        os.close(self.out)
        os.close(self.inp)
