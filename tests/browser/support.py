"""What the browser tests share: Debian's Chromium found, processes in their own process groups
(always killed), free loopback ports, and `UI`, a Playwright page driven with real mouse, wheel
and keyboard events at elements named by JavaScript expressions."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import Page

HOST = "127.0.0.1"
WIDTH, HEIGHT = 1280, 800
# No GPU, no sandbox as root, and none of Chromium's own traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
]
NO_CHROMIUM = "no Chromium binary on PATH (Debian: apt-get install chromium; or set $CHROMIUM)"


class CheckFailed(AssertionError):
    """What the page should have shown and did not."""


def find_chromium() -> str | None:
    """$CHROMIUM, else the first Chromium/Chrome binary on PATH."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    return next((path for name in names if (path := shutil.which(name))), None)


def free_port(low: int | None = None, high: int | None = None) -> int:
    """A free port of 127.0.0.1; between low and high when given (kedro-viz takes none above
    49151)."""
    for _ in range(100):
        port = random.randint(low, high) if low is not None and high is not None else 0
        with socket.socket() as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError(f"no free port between {low} and {high}")


def log(message: str) -> None:
    print(f"[browser {time.strftime('%H:%M:%S')}] {message}", flush=True)  # noqa: T201


def js(value) -> str:
    return json.dumps(value)


def log_tail(path: Path, lines: int = 15) -> str:
    if not path.is_file():
        return ""
    tail = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join([f"--- {path.name} (last lines)", *tail])


@contextlib.contextmanager
def process_group(cmd: list[str], log_path: Path, **kwargs) -> Iterator[subprocess.Popen]:
    """Runs cmd in its own process group; on exit, SIGTERM then SIGKILL that group only."""
    log(" ".join(cmd))
    with open(log_path, "w") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
        )
    try:
        yield proc
    finally:
        for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        # Children (uvicorn workers) may outlive the leader briefly.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def wait_for_http(url: str, timeout: float, proc: subprocess.Popen, what: str) -> float:
    """Seconds until url answered 200; raises when proc exits first or time runs out."""
    start = time.monotonic()
    deadline = start + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}) before it answered {url}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - start
        time.sleep(0.25)
    raise RuntimeError(f"{what} did not answer {url} within {timeout:.0f}s")


@contextlib.contextmanager
def mlflow_server(store: Path, workdir: Path, request) -> Iterator[str]:
    """`mlflow server` over store/mlflow.db (artifacts in store/mlruns) on a free port of
    127.0.0.1; yields its base URL, and prints its log's tail when a test failed meanwhile."""
    artifacts, port = (store / "mlruns").as_uri(), free_port()
    cmd = [str(Path(sys.executable).parent / "mlflow"), "server"]
    cmd += ["--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}"]
    cmd += ["--default-artifact-root", artifacts, "--artifacts-destination", artifacts]
    cmd += ["--host", HOST, "--port", str(port), "--workers", "1"]
    # No job runner (GenAI evaluation jobs): seven fewer processes, a start in seconds.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server_log = workdir / "mlflow_server.log"
    failures = request.session.testsfailed
    with process_group(cmd, server_log, cwd=workdir, env=env) as server:
        base = f"http://{HOST}:{port}"
        seconds = wait_for_http(f"{base}/health", 180, server, "mlflow server")
        log(f"mlflow server answered on {base} after {seconds:.1f}s")
        yield base
        if request.session.testsfailed > failures:
            print(log_tail(server_log), file=sys.stderr)  # noqa: T201


class UI:
    """One browser tab: JavaScript, and real input events at elements named by JS expressions."""

    def __init__(self, page: Page, timeout: float) -> None:
        self.page = page
        self.timeout = timeout

    def evaluate(self, expression: str):
        return self.page.evaluate(expression)

    def text(self) -> str:
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def goto(self, url: str) -> None:
        self.page.goto(url, wait_until="commit")

    def wait_for(self, needles: list[str], timeout: float) -> str:
        """Polls the rendered text until every needle is in it; raises with the missing ones."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            missing = [n for n in needles if n not in text]
            if not missing:
                return text
            if time.monotonic() > deadline:
                raise CheckFailed(
                    f"after {timeout:.0f}s the page lacks {missing}; it shows:\n{text[:2000]}"
                )
            time.sleep(0.5)

    def poll(self, expression: str, timeout: float, what: str):
        """Evaluates expression until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while not (value := self.evaluate(expression)):
            if time.monotonic() > deadline:
                raise CheckFailed(f"after {timeout:.0f}s: {what}")
            time.sleep(0.5)
        return value

    def center(self, element: str) -> tuple[float, float] | None:
        """Scrolls the element (a JS expression) into view; its centre in the viewport."""
        box = self.evaluate(
            f"(() => {{ const e = {element}; if (!e) return null; "
            "e.scrollIntoView({block: 'nearest', inline: 'nearest'}); "
            "const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; "
            "})()"
        )
        return tuple(box) if box else None

    def click(self, element: str) -> bool:
        """A left click in the middle of the element, as a mouse would; False if none."""
        point = self.center(element)
        if point is None:
            return False
        self.page.mouse.click(*point)
        return True

    def wheel(self, element: str, dx: float = 0, dy: float = 0) -> None:
        point = self.center(element)
        if point is None:
            raise CheckFailed(f"nothing to scroll: {element}")
        self.page.mouse.move(*point)
        self.page.mouse.wheel(dx, dy)

    def wheel_until(self, element: str, target: str, dy: float, what: str):
        """Wheels over the element until the target expression is truthy (lists that only
        render the rows in sight); returns its value. Gives up where the element stops moving."""
        still = 0
        while not (value := self.evaluate(target)):
            before = self.evaluate(f"{element}.scrollTop")
            self.wheel(element, dy=dy)
            time.sleep(0.3)
            still = still + 1 if self.evaluate(f"{element}.scrollTop") == before else 0
            if still == 3:
                raise CheckFailed(f"scrolled to the end and never saw {what}")
        return value

    def type(self, text: str) -> None:
        self.page.keyboard.insert_text(text)

    def escape(self) -> None:
        self.page.keyboard.press("Escape")

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path))
        # Small enough to commit: 256 colours (Pillow comes with matplotlib) cut a page to a third.
        with contextlib.suppress(ImportError):
            from PIL import Image  # noqa: PLC0415

            with Image.open(path) as image:
                small = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
            small.save(path, optimize=True)
        log(f"screenshot: {path} ({path.stat().st_size // 1024} KiB)")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
