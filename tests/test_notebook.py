"""notebooks/explore.ipynb runs headless (nbclient) on the test slice that `kedro run` prepared."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.test_run import ROOT, kedro_run

pytestmark = pytest.mark.e2e

NOTEBOOK = ROOT / "notebooks" / "explore.ipynb"


def _text(cell: nbformat.NotebookNode) -> str:
    """Everything a code cell printed or displayed as text."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
    return "".join(parts)


def test_the_exploration_notebook_runs_on_the_test_slice(tmp_path: Path, monkeypatch):
    store = tmp_path / "mlflow.db"  # a store of its own: no champion, whatever other tests did
    made = kedro_run(
        "--pipelines", "ingestion,cleaning", params={"data_dir": str(tmp_path)}, tracking=store
    )
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]

    # The kernel inherits the environment: the notebook's first cell reads these.
    monkeypatch.setenv("KEDRO_ENV", "test")
    monkeypatch.setenv("ML_LIFECYCLE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", f"sqlite:///{store}")  # the registry too
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "true")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # The python3 kernelspec's `python` is replaced by this interpreter (jupyter_client).
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=300,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    try:
        client.execute()  # raises CellExecutionError if any cell raises
    except CellExecutionError as error:  # Kedro's rich traceback is display text, not the error's
        shown = "\n".join(_text(cell) for cell in notebook.cells if cell.cell_type == "code")
        raise AssertionError(f"{error}\n{shown[-4000:]}") from error

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    text = "\n".join(_text(cell) for cell in code)
    assert f"data_dir: {tmp_path}" in text and "env: test" in text
    assert "primary_table: 3274 rows" in text
    assert "ingestion_quarantine: 0 rows" in text
    assert "cleaning_quarantine: 94 rows\n  missing_target:arr_delay: 94" in text
    assert "3368" in _text(code[3])  # the accounting table: cleaning in=3368
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1  # one figure, both plots
    assert "No champion yet: run `kedro run` first." in text
