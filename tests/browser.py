"""A headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: commands
on fd 3, replies on fd 4, NUL-terminated JSON), so the tests need no websocket library and no port."""
from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def chromium_path() -> str | None:
    found = next((path for path in CHROMIUM_CANDIDATES if os.access(path, os.X_OK)), None)
    return found or shutil.which("chromium")


def require_chromium() -> str:
    path = chromium_path()
    if path is None:
        pytest.skip("headless Chromium is not installed (.ci/run installs Debian's `chromium` package)")
    return path


class Browser:
    """One headless browser with one page; ``events`` collects everything the page reported."""

    def __init__(self, profile: Path, *, width: int = 1280, height: int = 800) -> None:
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()

        def wire_fds() -> None:  # in the child: its fd 3 reads our commands, its fd 4 takes its replies
            high_in = fcntl.fcntl(commands_read, fcntl.F_DUPFD, 20)
            high_out = fcntl.fcntl(replies_write, fcntl.F_DUPFD, 20)
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)

        self.proc = subprocess.Popen(
            [require_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-default-apps", "--disable-extensions", "--disable-sync",
             "--no-first-run", "--no-default-browser-check", "--mute-audio", "--remote-debugging-pipe",
             f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire_fds, close_fds=False,  # our own fds are not inheritable; 3 and 4 are
        )
        os.close(commands_read)
        os.close(replies_write)
        self.events: list[dict[str, Any]] = []
        self._replies_by_id: dict[int, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._next_id = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.page(f"{domain}.enable")

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._replies, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._cond.notify_all()
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                with self._cond:
                    if "id" in message:
                        self._replies_by_id[message["id"]] = message
                    else:
                        self.events.append(message)
                    self._cond.notify_all()

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        with self._cond:
            self._next_id += 1
            ident = self._next_id
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        with self._cond:
            if not self._cond.wait_for(lambda: ident in self._replies_by_id or self.proc.poll() is not None,
                                       timeout=60):
                raise AssertionError(f"chromium did not answer {method}")
            reply = self._replies_by_id.pop(ident, None)
        if reply is None:
            raise AssertionError(f"chromium exited while answering {method}")
        if "error" in reply:
            raise AssertionError(f"{method} failed: {reply['error']}")
        return reply.get("result", {})

    def page(self, method: str, **params: Any) -> dict[str, Any]:
        return self.call(method, self.session, **params)

    def wait_for_event(self, method: str, timeout: float = 60) -> dict[str, Any]:
        with self._cond:
            found = self._cond.wait_for(lambda: any(e.get("method") == method for e in self.events), timeout=timeout)
        if not found:
            raise AssertionError(f"no {method} from chromium")
        return next(e for e in self.events if e.get("method") == method)

    def open(self, url: str) -> None:
        self.page("Page.navigate", url=url)
        self.wait_for_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def press(self, key: str, *, code: str | None = None, key_code: int | None = None, shift: bool = False) -> None:
        """A real key press (keydown with the character, then keyup), as a user types it."""
        params: dict[str, Any] = {"key": key, "code": code or (f"Key{key.upper()}" if key.isalpha() else key),
                                  "modifiers": 8 if shift else 0}
        if key_code is not None:
            params["windowsVirtualKeyCode"] = key_code
        if len(key) == 1:
            params["text"] = key
            params.setdefault("windowsVirtualKeyCode", ord(key.upper()))
        self.page("Input.dispatchKeyEvent", type="keyDown", **params)
        self.page("Input.dispatchKeyEvent", type="keyUp", **params)

    def type_text(self, text: str) -> None:
        """Text into the focused field, as an input method would deliver it."""
        self.page("Input.insertText", text=text)

    def screenshot(self, path: Path) -> Path:
        data = self.page("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def console_messages(self) -> list[str]:
        """Everything the page said on its console, threw, or was refused (CSP reports land in Log)."""
        messages = []
        for event in list(self.events):
            params = event.get("params", {})
            if event.get("method") == "Runtime.consoleAPICalled":
                messages.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif event.get("method") == "Runtime.exceptionThrown":
                messages.append("exception: " + json.dumps(params.get("exceptionDetails", {}))[:500])
            elif event.get("method") == "Log.entryAdded":
                messages.append("log: " + str(params.get("entry", {}).get("text", "")))
            elif event.get("method") == "Page.javascriptDialogOpening":
                messages.append("dialog: " + str(params.get("message", "")))
        return messages

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in list(self.events) if e.get("method") == "Network.requestWillBeSent"]

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except AssertionError:
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._commands)
        self._reader.join(timeout=5)
        os.close(self._replies)
