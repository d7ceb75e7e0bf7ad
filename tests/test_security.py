"""Security basics: no secret in the repository, servers on loopback, models loaded safely."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import keras
import pytest
import yaml
from kedro.io import DatasetError

from ml_lifecycle.datasets import KerasModelDataset

ROOT = Path(__file__).parents[1]

SECRET_PATTERNS = {
    "AWS access key id": r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    "private key": r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----",
    "GitHub token": r"\bgh[pousr]_[A-Za-z0-9]{36,}\b",
    "Slack token": r"\bxox[abprs]-[A-Za-z0-9-]{10,}",
    "Google API key": r"\bAIza[0-9A-Za-z_\-]{35}\b",
    "credential in a URL": r"[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:[^/\s:@'\"$]{6,}@",
    "assigned secret": (
        r"(?i)\b(?:password|passwd|secret|api[_-]?key|access[_-]?key|auth[_-]?token)\b"
        r"[\"']?\s*[:=]\s*[\"'][^\"'\s$]{8,}[\"']"
    ),
}
BINARY = {".gz", ".png", ".parquet", ".keras", ".zip", ".jpg", ".pdf", ".db"}


def find_secrets(paths: list[Path]) -> list[str]:
    """Returns `path:line: kind` for every secret-looking string in the text files given."""
    found = []
    compiled = {kind: re.compile(p) for kind, p in SECRET_PATTERNS.items()}
    for path in paths:
        if path.suffix in BINARY or not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            found += [
                f"{path}:{number}: {kind}" for kind, rx in compiled.items() if rx.search(line)
            ]
    return found


def test_no_secret_looking_string_is_committed():
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True
    ).stdout.split("\0")
    files = [ROOT / p for p in tracked if p and p != "tests/test_security.py"]
    assert len(files) > 50
    assert find_secrets(files) == []


@pytest.mark.parametrize(
    "line",
    [
        'aws_key = "AKIA' + "ABCDEFGHIJKLMNOP" + '"',
        "-----BEGIN RSA " + "PRIVATE KEY-----",
        "MLFLOW_TRACKING_URI=https://user:" + "hunter2hunter2@mlflow.example.com",
        'password: "' + "correct-horse-battery" + '"',
        "token ghp_" + "a" * 36,
    ],
)
def test_the_scan_catches_a_planted_secret(tmp_path, line):
    planted = tmp_path / "settings.yml"
    planted.write_text(f"# harmless\n{line}\n")
    assert len(find_secrets([planted])) >= 1


def test_credentials_stay_out_of_git():
    for path in ("conf/local/credentials.yml", "conf/base/credentials.yml", "conf/local/x.yml"):
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
        assert ignored.returncode == 0, f"{path} would be committed"


def test_every_server_binds_loopback_by_default():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("serve", "mlflow-ui"):
        recipe = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", makefile, re.M)
        assert recipe and "--host 127.0.0.1" in recipe.group(1), target
    conf_text = "\n".join(p.read_text() for p in (ROOT / "conf").rglob("*.yml"))
    assert "0.0.0.0" not in makefile and "0.0.0.0" not in conf_text
    spark = yaml.safe_load((ROOT / "conf/base/spark.yml").read_text())
    assert spark["spark.driver.bindAddress"] == "127.0.0.1"
    assert spark["spark.ui.enabled"] is False
    mlflow = yaml.safe_load((ROOT / "conf/base/mlflow.yml").read_text())
    assert mlflow["ui"]["host"] == "127.0.0.1"


def test_models_load_in_safe_mode(tmp_path):
    # A Lambda layer carries arbitrary Python: safe mode refuses to deserialize it.
    inputs = keras.Input(shape=(1,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(DatasetError, match="Lambda"):
        KerasModelDataset(str(path)).load()
    unsafe = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "src").rglob("*.py")
        if re.search(r"safe_mode\s*=\s*False", p.read_text())
    ]
    assert unsafe == []
