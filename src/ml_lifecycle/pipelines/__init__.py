"""The stages and tools, one package each: nodes.py (the functions), pipeline.py (the wiring)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_create_pipeline(package: str) -> Callable[[str], Any]:
    """Returns a module `__getattr__` that imports `<package>.pipeline` on first use.

    A stage package then costs nothing to import: reading its `params` module (the hook that
    validates every block a run uses does) does not import TensorFlow, GX or MLflow, which its
    nodes do, in a run that never calls them.
    """

    def __getattr__(name: str) -> Any:
        if name == "create_pipeline":
            return importlib.import_module(f"{package}.pipeline").create_pipeline
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
