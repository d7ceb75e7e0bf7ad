"""Check the MLflow UI in a real headless browser: two runs of the lifecycle, compared.

1. Two `kedro run --env test` runs into a temporary sqlite store that differ in
   `training.learning_rate` (0.002, then 0.0005; the second reuses the first one's data and
   reruns only training, evaluation and registry). `--store DIR` checks a store that already
   has such runs (DIR/mlflow.db, artifacts in DIR/mlruns) instead.
2. `mlflow server` on a free port of 127.0.0.1 against that store.
3. Debian's Chromium, headless, driven over the DevTools protocol with the standard library
   only (a small WebSocket client below), with real mouse, wheel and keyboard events:
   - the runs page, #/experiments/<id>/runs: both run names; the learning rate and
     `test.model.roc_auc` added as columns (the Columns menu), each run's row showing its own;
   - the compare view, #/compare-runs?runs=[ids]&experiments=[id]: the Run ID and Run Name
     rows, the learning-rate row (kept by "Show diff only"), the metric's row of the metrics
     grid (scrolled into sight), and the parallel coordinates plot of learning rate against
     the metric, whose axes must show both runs' values.
   Every value is compared with what MLflow's client reads from the store.
   `--screenshots DIR` saves mlflow_runs.png and mlflow_compare.png (1280x800).

The server and the browser run in their own process groups and are always killed. Exit 0 when
every assertion held, 1 with what was missing when one did not, 2 when no Chromium is found.

    .venv/bin/python scripts/check_mlflow_ui.py --screenshots docs/images
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EXPERIMENT = "ml-lifecycle"
PARAM = "training.learning_rate"
METRIC = "test.model.roc_auc"
LEARNING_RATES = ("0.002", "0.0005")
HOST = "127.0.0.1"
WIDTH, HEIGHT = 1280, 800
# As the machine notes advise: no GPU, no sandbox as root, and none of Chromium's own traffic.
CHROMIUM_FLAGS = (
    "--headless",
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
    f"--window-size={WIDTH},{HEIGHT}",
    f"--remote-debugging-address={HOST}",
    "--remote-debugging-port=0",
)


class CheckFailed(AssertionError):
    """What the UI should have shown and did not."""


def find_chromium() -> str | None:
    """$CHROMIUM, else the first Chromium/Chrome binary on PATH."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    return next((path for name in names if (path := shutil.which(name))), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def report_failure(failure: Exception, workdir: Path, logs: tuple[str, ...]) -> int:
    """Prints the last lines of the servers' logs and the failure; returns the exit status 1."""
    for name in logs:
        if (log_file := workdir / name).is_file():
            tail = log_file.read_text(errors="replace").splitlines()[-15:]
            print(f"--- {name} (last lines)", *tail, sep="\n", file=sys.stderr)
    print(f"FAILED ({type(failure).__name__}): {failure}", file=sys.stderr)
    return 1


def log(message: str) -> None:
    print(f"[check-ui {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------------------------------------
# The two runs


def make_runs(store: Path) -> float:
    """Two lifecycle runs into store/mlflow.db that differ only in the learning rate."""
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}",
        "KEDRO_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
    }
    data = store / "data"
    commands = (
        [],  # the whole lifecycle: ingestion to registry
        ["--pipelines", "training,evaluation,registry"],  # same data, another learning rate
    )
    start = time.monotonic()
    for lr, extra in zip(LEARNING_RATES, commands, strict=True):
        cmd = [str(BIN / "kedro"), "run", "--env", "test", *extra]
        cmd += ["--params", f"data_dir={data},{PARAM}={lr}"]
        log(" ".join(cmd))
        with open(store / f"kedro_lr{lr}.log", "w") as out:
            done = subprocess.run(
                cmd, check=False, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        if done.returncode:
            tail = (store / f"kedro_lr{lr}.log").read_text().splitlines()[-30:]
            raise RuntimeError(f"kedro run failed ({done.returncode}):\n" + "\n".join(tail))
    return time.monotonic() - start


def read_runs(store: Path) -> tuple[str, list[dict]]:
    """The experiment id and, per learning rate, the latest run that used it."""
    from mlflow.tracking import MlflowClient  # noqa: PLC0415 (a second or two to import)

    client = MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        raise CheckFailed(f"no experiment {EXPERIMENT!r} in {store / 'mlflow.db'}")
    runs = []
    for lr in LEARNING_RATES:
        found = client.search_runs(
            [experiment.experiment_id],
            filter_string=f"params.`{PARAM}` = '{lr}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if not found:
            raise CheckFailed(f"no run with {PARAM}={lr} in {store / 'mlflow.db'}")
        run = found[0]
        if METRIC not in run.data.metrics:
            raise CheckFailed(f"run {run.info.run_id} logged no {METRIC}")
        runs.append(
            {
                "id": run.info.run_id,
                "name": run.info.run_name,
                "lr": lr,
                "metric": run.data.metrics[METRIC],
            }
        )
    return experiment.experiment_id, runs


# ---------------------------------------------------------------------------------------------
# Processes that are always killed


@contextlib.contextmanager
def process_group(cmd: list[str], log_path: Path, **kwargs) -> Iterator[subprocess.Popen]:
    """Runs cmd in its own process group; on exit, SIGTERM then SIGKILL that group only."""
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
        # Children (uvicorn workers, Chromium's renderers) may outlive the leader briefly.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def mlflow_server(store: Path, port: int, workdir: Path):
    artifacts = (store / "mlruns").as_uri()
    cmd = [
        str(BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{store / 'mlflow.db'}",
        "--default-artifact-root",
        artifacts,
        "--artifacts-destination",
        artifacts,
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    log(" ".join(cmd))
    # No job runner (GenAI evaluation jobs): seven fewer processes, a start in seconds.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return process_group(cmd, workdir / "mlflow_server.log", cwd=workdir, env=env)


def wait_for_http(url: str, timeout: float, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}) before it answered {url}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        time.sleep(0.25)
    raise RuntimeError(f"{what} did not answer {url} within {timeout:.0f}s")


# ---------------------------------------------------------------------------------------------
# A minimal WebSocket client (RFC 6455, client side) for the DevTools protocol on loopback


class WebSocket:
    def __init__(self, url: str, timeout: float = 60) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.hostname not in {HOST, "localhost"}:
            raise ValueError(f"refusing a DevTools endpoint off loopback: {url}")
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("DevTools closed the connection during the handshake")
            head += chunk
        head, self.buffer = head.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"WebSocket handshake refused: {head[:200]!r}")

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buffer)))
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def send(self, text: str) -> None:
        payload = text.encode()
        header = bytearray([0x81])  # FIN + text frame
        if len(payload) < 126:
            header.append(0x80 | len(payload))
        elif len(payload) < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", len(payload))
        mask = os.urandom(4)
        self.sock.sendall(
            bytes(header) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        )

    def recv(self) -> str:
        """The next whole text message (fragments joined; pings answered)."""
        message = b""
        while True:
            first, second = self._read(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if second & 0x80 else None
            payload = self._read(length)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the WebSocket")
            if opcode == 0x9:  # ping: answer with a masked pong
                pong_mask = os.urandom(4)
                masked = bytes(b ^ pong_mask[i % 4] for i, b in enumerate(payload))
                self.sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + pong_mask + masked)
                continue
            if opcode in {0x0, 0x1, 0x2}:
                message += payload
                if first & 0x80:
                    return message.decode()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class Page:
    """One browser tab, over the DevTools protocol: navigation, JS, and real input events."""

    def __init__(self, ws_url: str) -> None:
        self.ws = WebSocket(ws_url)
        self.next_id = 0

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:  # events arrive in between; only the answer to this call matters
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def text(self) -> str:
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)

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
        for kind in ("mousePressed", "mouseReleased"):
            self.call(
                "Input.dispatchMouseEvent",
                type=kind,
                x=point[0],
                y=point[1],
                button="left",
                clickCount=1,
            )
        return True

    def wheel(self, element: str, dx: float = 0, dy: float = 0) -> None:
        point = self.center(element)
        if point is None:
            raise CheckFailed(f"nothing to scroll: {element}")
        self.call(
            "Input.dispatchMouseEvent",
            type="mouseWheel",
            x=point[0],
            y=point[1],
            deltaX=dx,
            deltaY=dy,
        )

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
        self.call("Input.insertText", text=text)

    def escape(self) -> None:
        for kind in ("keyDown", "keyUp"):
            self.call(
                "Input.dispatchKeyEvent",
                type=kind,
                key="Escape",
                code="Escape",
                windowsVirtualKeyCode=27,
            )

    def screenshot(self, path: Path) -> None:
        shot = self.call("Page.captureScreenshot", format="png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        # Small enough to commit: 256 colours (Pillow comes with matplotlib) cut a page to a third.
        with contextlib.suppress(ImportError):
            from PIL import Image  # noqa: PLC0415

            with Image.open(path) as image:
                small = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
            small.save(path, optimize=True)
        log(f"screenshot: {path} ({path.stat().st_size // 1024} KiB)")

    def close(self) -> None:
        self.ws.close()


def browser(chromium: str, workdir: Path):
    profile = workdir / "chromium-profile"
    profile.mkdir()
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"]
    log(" ".join(cmd))
    return process_group(cmd, workdir / "chromium.log"), profile


def page_target(profile: Path, proc: subprocess.Popen, timeout: float = 60) -> str:
    """The WebSocket URL of the browser's first tab (its port is in DevToolsActivePort)."""
    active = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Chromium exited ({proc.returncode}); see chromium.log")
        if active.is_file() and (lines := active.read_text().split()):
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(f"http://{HOST}:{lines[0]}/json/list") as response:
                    targets = json.load(response)
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
        time.sleep(0.25)
    raise RuntimeError(f"Chromium opened no DevTools endpoint within {timeout:.0f}s")


# ---------------------------------------------------------------------------------------------
# The check


def compare_url(base: str, experiment_id: str, runs: list[dict]) -> str:
    query = urllib.parse.urlencode(
        {
            "runs": json.dumps([r["id"] for r in runs]),
            "experiments": json.dumps([experiment_id]),
        }
    )
    return f"{base}/#/compare-runs?{query}"


def check_ui(
    store: Path, chromium: str, screenshots: Path | None, timeout: float, workdir: Path
) -> dict:
    experiment_id, runs = read_runs(store)
    for run in runs:
        log(f"run {run['name']} {run['id']}: {PARAM}={run['lr']} {METRIC}={run['metric']}")
    port = free_port()
    base = f"http://{HOST}:{port}"
    timings = {}
    with mlflow_server(store, port, workdir) as server:
        start = time.monotonic()
        wait_for_http(f"{base}/health", 2 * timeout, server, "mlflow server")
        timings["server_start_s"] = round(time.monotonic() - start, 1)
        log(f"mlflow server answered on {base} after {timings['server_start_s']}s")
        launched, profile = browser(chromium, workdir)
        with launched as chrome:
            page = Page(page_target(profile, chrome))
            try:
                page.call("Page.enable")
                page.call(
                    "Emulation.setDeviceMetricsOverride",
                    width=WIDTH,
                    height=HEIGHT,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                checks = (
                    ("runs", f"{base}/#/experiments/{experiment_id}/runs", check_runs_page),
                    ("compare", compare_url(base, experiment_id, runs), check_compare_page),
                )
                for name, url, check in checks:
                    start = time.monotonic()
                    log(f"{name}: {url}")
                    page.goto(url)
                    check(page, runs, timeout)
                    timings[f"{name}_page_s"] = round(time.monotonic() - start, 1)
                    log(f"{name}: every assertion held ({timings[f'{name}_page_s']}s)")
                    if screenshots:
                        page.screenshot(screenshots / f"mlflow_{name}.png")
            finally:
                page.close()
    return {"experiment_id": experiment_id, "runs": runs, "base_url": base, **timings}


def same_number(shown: str, value: float) -> bool:
    """Whether the text the UI shows is the logged value, to the precision it shows."""
    try:
        number = float(shown)
    except ValueError:
        return False
    decimals = len(shown.split(".")[1]) if "." in shown and "e" not in shown.lower() else 0
    return abs(number - value) <= 0.5 * 10**-decimals + 1e-12 * max(1.0, abs(value))


def close_assistant(page: Page) -> None:
    """MLflow 3's assistant panel takes a quarter of the width: close it if it is open."""
    page.click("""Array.from(document.querySelectorAll('button[aria-label=Close]')).find(b => {
      for (let e = b.parentElement, i = 0; e && i < 4; e = e.parentElement, i++) {
        if (e.innerText.includes('MLflow Assistant')) return true;
      }
      return false;
    })""")


def js(value) -> str:
    return json.dumps(value)


# The runs table (ag-grid): the pinned and the scrolling part of a row share its row-index.
RUNS_TABLE = """
(() => {
  const rows = {};
  for (const row of document.querySelectorAll('.ag-row[row-index]')) {
    const cells = rows[row.getAttribute('row-index')] ||= {};
    for (const cell of row.querySelectorAll('.ag-cell[col-id]')) {
      cells[cell.getAttribute('col-id')] = cell.innerText.trim();
    }
  }
  return Object.values(rows);
})()
"""
RUN_NAME_COL, PARAM_COL, METRIC_COL = (
    "attributes.`Run Name`",
    f"params.`{PARAM}`",
    f"metrics.`{METRIC}`",
)


def check_runs_page(page: Page, runs: list[dict], timeout: float) -> None:
    """The runs table lists both runs; with the learning rate and the metric added as columns
    (the Columns menu, as a person would), each run's row shows its own values."""
    page.wait_for([EXPERIMENT, *(r["name"] for r in runs)], timeout)
    close_assistant(page)
    for column in (PARAM, METRIC):
        columns = "Array.from(document.querySelectorAll('button'))"
        if not page.click(f"{columns}.find(b => b.innerText.trim() === 'Columns')"):
            raise CheckFailed("the runs page has no Columns button")
        search = "document.querySelector('input[placeholder=\"Search columns\"]')"
        page.poll(f"!!{search}", timeout, "the Columns menu has no search box")
        page.evaluate(f"{search}.focus(); {search}.select()")
        page.type(column)
        item = (
            "Array.from(document.querySelectorAll('.du-bois-light-tree-title'))"
            f".find(e => e.innerText.trim() === {js(column)})"
        )
        page.poll(f"!!{item}", timeout, f"the Columns menu does not offer {column}")
        checked = "classList.contains('du-bois-light-tree-treenode-checkbox-checked')"
        if not page.evaluate(f"{item}.closest('.du-bois-light-tree-treenode').{checked}"):
            page.click(item)
        page.escape()
    # The added columns come last: scroll the table right, as a trackpad would.
    page.poll(
        f"{RUNS_TABLE}.some(r => {js(METRIC_COL)} in r)", timeout, f"no {METRIC} column appeared"
    )
    page.wheel("document.querySelector('.ag-center-cols-viewport')", dx=2000)
    time.sleep(1)
    rows = page.poll(
        f"(() => {{ const rows = {RUNS_TABLE}.filter(r => {js(RUN_NAME_COL)} in r); "
        f"return rows.length >= {len(runs)} && rows.every(r => {js(PARAM_COL)} in r "
        f"&& {js(METRIC_COL)} in r) ? rows : null; }})()",
        timeout,
        f"the runs table shows no {PARAM} and {METRIC} cells",
    )
    table = {r[RUN_NAME_COL].splitlines()[-1]: r for r in rows}
    log(f"runs table: { {n: (r[PARAM_COL], r[METRIC_COL]) for n, r in table.items()} }")
    for run in runs:
        row = table.get(run["name"])
        if row is None:
            raise CheckFailed(f"no row for run {run['name']} in the runs table: {list(table)}")
        if row[PARAM_COL] != run["lr"]:
            raise CheckFailed(f"{run['name']}: {PARAM} shows {row[PARAM_COL]}, not {run['lr']}")
        if not same_number(row[METRIC_COL], run["metric"]):
            raise CheckFailed(
                f"{run['name']}: {METRIC} shows {row[METRIC_COL]}, logged {run['metric']}"
            )


# The compare view's tables: a row is a name, then one value per run in the URL's order.
ROW = """
(() => {
  const head = Array.from(document.querySelectorAll('tr > th, tr > td'))
    .find(c => c.innerText.trim() === %s);
  return head ? Array.from(head.parentElement.children).slice(1).map(c => c.innerText.trim())
              : null;
})()
"""
# Its metrics are a virtualized grid (react-virtualized): names left, values right, a row's
# cells share their `top`. Only the rows scrolled into view exist in the DOM.
METRIC_GRID = "Array.from(document.querySelectorAll('.ReactVirtualized__Grid'))"
METRIC_VALUES = f"{METRIC_GRID}.find(g => getComputedStyle(g).overflowY === 'auto')"
METRIC_ROW = f"""
(() => {{
  const [names, values] = [{METRIC_GRID}.find(g => getComputedStyle(g).overflowY !== 'auto'),
                           {METRIC_VALUES}];
  if (!names || !values) return null;
  const cell = Array.from(names.querySelectorAll('[style]'))
    .find(c => c.innerText.trim() === {js(METRIC)});
  if (!cell) return null;
  const row = Array.from(values.querySelectorAll('[style]'))
    .filter(c => c.style.top === cell.style.top && c.style.left !== '')
    .sort((a, b) => parseFloat(a.style.left) - parseFloat(b.style.left));
  if (!row.length) return null;
  const [grid, first] = [values.getBoundingClientRect(), row[0].getBoundingClientRect()];
  return {{values: row.map(c => c.innerText.trim()),
           visible: first.top >= grid.top && first.bottom <= grid.bottom,
           x: first.x + first.width / 2, y: first.y + first.height / 2}};
}})()
"""


def check_compare_page(page: Page, runs: list[dict], timeout: float) -> None:
    """Run details, the learning-rate row and the metric row, one column per run."""
    ids, names = [r["id"] for r in runs], [r["name"] for r in runs]
    page.wait_for([*ids, *names, PARAM, *LEARNING_RATES, "Metrics"], timeout)
    close_assistant(page)
    expected = {"Run ID:": ids, "Run Name:": names, PARAM: list(LEARNING_RATES)}
    for head, values in expected.items():
        shown = page.evaluate(ROW % js(head))
        log(f"compare {head} {shown}")
        if shown != values:
            raise CheckFailed(f"the compare view's {head!r} row shows {shown}, not {values}")
    # Only the parameters that differ; the learning rate must be one of them.
    diff_only = "document.querySelector('button[aria-label=\"Parameters - Show diff only\"]')"
    if page.evaluate(f"!!{diff_only} && {diff_only}.getAttribute('aria-checked') !== 'true'"):
        page.click(diff_only)
        page.poll(f"{diff_only}.getAttribute('aria-checked') === 'true'", timeout, "diff only")
        if page.evaluate(ROW % js(PARAM)) != list(LEARNING_RATES):
            raise CheckFailed(f"'Show diff only' hid {PARAM}, which differs")
    page.evaluate(
        f"(() => {{ const c = Array.from(document.querySelectorAll('tr > th'))"
        f".find(c => c.innerText.trim() === {js(PARAM)}); "
        "if (c) c.scrollIntoView({block: 'start'}); })()"
    )
    # Scroll the metrics grid with the mouse wheel until the metric's row is in sight.
    page.poll(f"!!{METRIC_VALUES}", timeout, "the compare view has no metrics grid")
    row = page.wheel_until(
        METRIC_VALUES,
        f"(() => {{ const r = {METRIC_ROW}; return r && r.visible && r; }})()",
        dy=100,
        what=f"{METRIC} in the metrics grid",
    )
    log(f"compare {METRIC} {row['values']}")
    if len(row["values"]) != len(runs) or not all(
        same_number(shown, run["metric"]) for shown, run in zip(row["values"], runs, strict=False)
    ):
        raise CheckFailed(
            f"{METRIC} shows {row['values']}, logged {[r['metric'] for r in runs]} "
            "(in the URL's order)"
        )
    # The names column follows the values one scroll event late: one more event (a pixel up,
    # which also scrolls at the bottom) aligns them.
    page.wheel(METRIC_VALUES, dy=-1)
    time.sleep(0.5)
    plot_learning_rate_vs_metric(page, runs, timeout)


# The parallel coordinates plot at the top of the compare view: its two pickers (virtualized
# drop-down lists of every param and every metric).
PICKERS = "document.querySelectorAll('[role=tabpanel] .du-bois-light-select')"
OPEN_LIST = (
    "document.querySelector('.du-bois-light-select-dropdown:not("
    ".du-bois-light-select-dropdown-hidden) .rc-virtual-list-holder')"
)
PLOT_AXES = "Array.from(document.querySelectorAll('.js-plotly-plot text')).map(t => t.textContent)"


def plot_learning_rate_vs_metric(page: Page, runs: list[dict], timeout: float) -> None:
    """Plots the learning rate against the metric, as a person would pick them, and checks that
    the plot has both axes; leaves the page at its top (plot, run ids and names)."""
    cleared = page.click(
        "Array.from(document.querySelectorAll('button'))"
        ".find(b => b.innerText.trim() === 'Clear All')"
    )
    if not cleared:
        raise CheckFailed("the compare view has no parallel coordinates plot ('Clear All')")
    for index, name in enumerate((PARAM, METRIC)):
        page.click(f"{PICKERS}[{index}]")
        page.poll(f"!!{OPEN_LIST}", timeout, f"the picker for {name} did not open")
        option = (
            f"Array.from({OPEN_LIST}.querySelectorAll('.du-bois-light-select-item-option'))"
            f".find(o => o.title === {js(name)})"
        )
        page.wheel_until(
            OPEN_LIST,
            f"(() => {{ const o = {option}; if (!o) return false; "
            f"const [h, r] = [{OPEN_LIST}.getBoundingClientRect(), o.getBoundingClientRect()]; "
            "return r.top >= h.top && r.bottom <= h.bottom; })()",
            dy=200,
            what=f"{name} in the picker",
        )
        page.click(option)
        page.escape()
        time.sleep(0.5)
    axes = page.poll(
        f"(() => {{ const t = {PLOT_AXES}; "
        f"return t.includes({js(PARAM)}) && t.includes({js(METRIC)}) && t; }})()",
        timeout,
        f"the parallel coordinates plot has no {PARAM} and {METRIC} axes",
    )
    log(f"compare plot axes and ticks: {axes}")
    # Each axis is labelled with its range: both learning rates, both runs' metric values.
    precise = [t for t in axes if len(t.partition(".")[2]) >= 4]
    for value in (*map(float, LEARNING_RATES), *(r["metric"] for r in runs)):
        if not any(same_number(t, value) for t in precise):
            raise CheckFailed(f"the parallel coordinates plot does not show {value}: {axes}")
    page.evaluate(
        "document.querySelector('main') && (document.querySelector('main').scrollTop = 0)"
    )
    page.call("Input.dispatchMouseEvent", type="mouseMoved", x=1, y=HEIGHT - 1)
    time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--store", type=Path, help="a folder with mlflow.db that has both runs (skips kedro)"
    )
    parser.add_argument("--screenshots", type=Path, help="save mlflow_runs.png, mlflow_compare.png")
    parser.add_argument("--timeout", type=float, default=90, help="seconds per wait (90)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    chromium = find_chromium()
    if chromium is None:
        print("no Chromium binary (apt-get install chromium, or set $CHROMIUM)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="check_mlflow_ui_"))
    started = time.monotonic()
    try:
        store = args.store.resolve() if args.store else workdir / "store"
        timings = {}
        if not args.store:
            store.mkdir()
            timings["kedro_runs_s"] = round(make_runs(store), 1)
        result = check_ui(store, chromium, args.screenshots, args.timeout, workdir)
        result.update(timings, total_s=round(time.monotonic() - started, 1))
        print(json.dumps(result, indent=2))
        log("OK: the MLflow UI shows both runs, their learning rates and " + METRIC)
        return 0
    except (CheckFailed, RuntimeError, OSError) as failure:
        return report_failure(failure, workdir, ("mlflow_server.log", "chromium.log"))
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
