"""Nodes are pure: no pipeline's nodes.py imports MLflow or subprocess, opens a file, reads the
environment or calls the MLflow client. The catalog's datasets do that I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
NODES = sorted((ROOT / "src/ml_lifecycle/pipelines").glob("*/nodes.py"))
FORBIDDEN_MODULES = ("mlflow", "subprocess")
FORBIDDEN_NAMES = {"open", "MlflowClient", "subprocess", "mlflow"}


def impurities(source: str) -> list[str]:
    """What makes a nodes module impure: `line: what`, in line order."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
            if node.module and node.module.split(".")[0] in FORBIDDEN_MODULES:
                modules += [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            modules = []
        found += [
            f"{node.lineno}: import {m}" for m in modules if m.split(".")[0] in FORBIDDEN_MODULES
        ]
        if isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            found.append(f"{node.lineno}: {node.id}")
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "environ"
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            found.append(f"{node.lineno}: os.environ")
        if isinstance(node, ast.Attribute) and node.attr in {"getenv", "putenv"}:
            found.append(f"{node.lineno}: os.{node.attr}")
    return sorted(set(found), key=lambda f: (int(f.split(":")[0]), f))


def test_the_check_catches_every_kind_of_impurity():
    source = (
        "import os, subprocess\n"
        "import mlflow.pyfunc\n"
        "from mlflow import MlflowClient\n"
        "def f(path):\n"
        "    with open(path) as handle:\n"
        "        handle.read()\n"
        "    mlflow.log_metric('a', 1)\n"
        "    return os.environ['HOME'], MlflowClient(), subprocess.run(['ls'])\n"
    )
    assert impurities(source) == [
        "1: import subprocess",
        "2: import mlflow.pyfunc",
        "3: import mlflow",
        "3: import mlflow.MlflowClient",
        "5: open",
        "7: mlflow",
        "8: MlflowClient",
        "8: os.environ",
        "8: subprocess",
    ]
    assert impurities("def f(df):\n    return df.filter('x > 0')\n") == []


@pytest.mark.parametrize("path", [pytest.param(path, id=path.parent.name) for path in NODES])
def test_nodes_do_no_io(path: Path):
    assert impurities(path.read_text()) == []


def test_every_stage_is_checked():
    assert {p.parent.name for p in NODES} >= {
        "inference",
        "iterate",
        "monitoring",
        "registry",
        "training",
    }
