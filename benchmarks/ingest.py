"""Benchmark: ingestion + cleaning through Kedro vs a hand-tuned PySpark script vs pandas.

All three read the same synthetic landing folder in one run of this script. Usage:
    python benchmarks/ingest.py --rows 1000000 [--rows 10000000] [--skip-pandas]
Prints a table per size and merges the figures into benchmarks/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from _measure import Measurement, measure  # noqa: E402

ROOT = Path(__file__).parents[1]
WORK = ROOT / "benchmarks/work"
RESULTS = ROOT / "benchmarks/results/ingest.json"
RAW_DIR = ROOT / "data/01_raw/nycflights13"
BIN = Path(sys.executable).parent
# pandas keeps rows as Python objects and copies on merge: ~1.0 KB per row at 1 M rows, + headroom.
PANDAS_BYTES_PER_ROW = 1100


def _env() -> dict[str, str]:
    return {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "SPARK_LOCAL_IP": "127.0.0.1"}


def _kedro(*args: str, params: dict[str, str]) -> list[str]:
    joined = ",".join(f"{k}={v}" for k, v in params.items())
    return [str(BIN / "kedro"), "run", "--env", "scale", *args, "--params", joined]


def _landing(rows: int) -> Path:
    landing = WORK / f"landing_{rows}"
    marker = landing / "_ROWS"
    if marker.exists() and marker.read_text() == str(rows):
        return landing
    shutil.rmtree(landing, ignore_errors=True)
    print(f"generating {rows:,} synthetic rows -> {landing}", flush=True)
    made = measure(
        _kedro(
            "--pipeline",
            "synthetic",
            params={"synthetic.rows": str(rows), "synthetic_dir": str(landing)},
        ),
        env=_env(),
        cwd=str(ROOT),
    )
    if made.returncode != 0:
        sys.exit(f"synthetic generation failed:\n{made.output_tail}")
    marker.write_text(str(rows))
    return landing


def _row(name: str, m: Measurement | None, rows: int, note: str = "") -> dict:
    if m is None:
        return {"variant": name, "skipped": note}
    if m.returncode != 0:
        sys.exit(f"{name} failed:\n{m.output_tail}")
    return {
        "variant": name,
        "seconds": round(m.seconds, 2),
        "rows_per_second": round(rows / m.seconds),
        "peak_rss_mb": round(m.peak_rss_mb),
    }


def run_size(rows: int, skip_pandas: bool) -> dict:
    landing = _landing(rows)
    out = WORK / f"out_{rows}"
    shutil.rmtree(out, ignore_errors=True)
    env = _env()

    kedro = measure(
        _kedro(
            "--pipelines",
            "ingestion,cleaning",
            params={"data_dir": str(out / "kedro"), "flights_path": str(landing)},
        ),
        env=env,
        cwd=str(ROOT),
    )
    script = [
        "--flights", str(landing), "--raw-dir", str(RAW_DIR),
    ]  # fmt: skip
    handtuned = measure(
        [
            sys.executable,
            str(ROOT / "benchmarks/handtuned_ingest.py"),
            *script,
            "--output",
            str(out / "handtuned"),
        ],
        env=env,
    )
    budget = psutil.virtual_memory().available * 0.6
    if skip_pandas or rows * PANDAS_BYTES_PER_ROW > budget:
        need, allowed = rows * PANDAS_BYTES_PER_ROW / 2**30, budget / 2**30
        pandas, note = None, f"skipped: ~{need:.0f} GiB needed, {allowed:.0f} GiB allowed"
        if skip_pandas:
            note = "skipped by --skip-pandas"
    else:
        pandas, note = (
            measure(
                [
                    sys.executable,
                    str(ROOT / "benchmarks/pandas_ingest.py"),
                    *script,
                    "--output",
                    str(out / "pandas.parquet"),
                ],
                env=env,
            ),
            "",
        )

    accounting = json.loads((out / "kedro/08_reporting/row_accounting.json").read_text())
    result = {
        "rows": rows,
        "input_lines": accounting["ingestion"]["in"],
        "variants": [
            _row("kedro ingestion+cleaning (a)", kedro, rows),
            _row("hand-tuned PySpark (b)", handtuned, rows),
            _row("pandas (c)", pandas, rows, note),
        ],
        "ratio_a_over_b": round(kedro.seconds / handtuned.seconds, 3),
        "row_accounting": {
            stage: {
                k: accounting[stage][k]
                for k in ("in", "kept", "quarantined", "quarantined_by_reason")
            }
            for stage in ("ingestion", "cleaning")
        },
    }
    shutil.rmtree(out, ignore_errors=True)
    return result


def print_table(result: dict) -> None:
    print(f"\n{result['rows']:,} rows ({result['input_lines']:,} input lines)")
    print(f"| {'variant':<30} | {'wall s':>8} | {'rows/s':>10} | {'peak RSS MB':>11} |")
    print(f"|{'-' * 32}|{'-' * 10}|{'-' * 12}|{'-' * 13}|")
    for v in result["variants"]:
        if "skipped" in v:
            print(f"| {v['variant']:<30} | {v['skipped']}")
            continue
        cells = f"{v['seconds']:>8.1f} | {v['rows_per_second']:>10,} | {v['peak_rss_mb']:>11,}"
        print(f"| {v['variant']:<30} | {cells} |")
    print(f"ratio a/b = {result['ratio_a_over_b']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", required=True)
    parser.add_argument("--skip-pandas", action="store_true")
    args = parser.parse_args()
    existing = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": {}}
    for rows in args.rows:
        result = run_size(rows, args.skip_pandas)
        print_table(result)
        existing["runs"][str(rows)] = {
            **result,
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {psutil.cpu_count()} cores, "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
