"""Third-party start-up noise: TensorFlow's C++ import log and the known warnings stay quiet."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

QUIET = """
import warnings
import ml_lifecycle
warnings.warn("\\x1b[33mAdd type hints to the `predict` method to enable data validation")
warnings.warn("One or more dataset names contain '.' characters, which is not recommended")
warnings.warn("a warning of our own")
"""

# Each check starts a fresh Python (import-time logging): the end-to-end tier.
pytestmark = pytest.mark.e2e


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"} | env
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True
    )


def test_the_known_warnings_are_filtered_and_others_are_not():
    stderr = _python(QUIET).stderr
    assert "Add type hints" not in stderr
    assert "dataset names contain" not in stderr
    assert "UserWarning: a warning of our own" in stderr


def test_captured_warnings_are_filtered_even_where_a_library_forces_them_once():
    code = """
import logging, warnings
import ml_lifecycle
logging.captureWarnings(True)
logging.basicConfig(format="%(message)s")
with warnings.catch_warnings():
    warnings.simplefilter("once", category=UserWarning)  # as mlflow.utils.annotations does
    warnings.warn("\\x1b[33mAdd type hints to the `predict` method to enable data validation")
    warnings.warn("a warning of our own")
"""
    stderr = _python(code).stderr
    assert "Add type hints" not in stderr
    assert "a warning of our own" in stderr


@pytest.mark.parametrize(("env", "quiet"), [({}, True), ({"TF_CPP_MIN_LOG_LEVEL": "0"}, False)])
def test_tensorflows_import_log_is_muted_unless_the_shell_asks_for_it(env, quiet):
    code = "import ml_lifecycle, sys, tensorflow; print('imported', file=sys.stderr)"
    stderr = _python(code, **env).stderr
    assert stderr.strip().splitlines()[-1] == "imported"
    assert ("absl::InitializeLog" not in stderr) is quiet
