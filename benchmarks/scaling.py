"""Benchmark: the project's pipelines on synthetic data of growing size, with pandas beside them.

For each size the `synthetic` pipeline writes a landing folder (not timed), then
`kedro run --env scale --pipelines ingestion,cleaning,data_quality,features` reads it, measured:
wall time, rows/s, the peak RSS of the Python driver and of the JVM apart (and of the whole
tree). At the pandas sizes benchmarks/pandas_ingest.py (ingestion + cleaning only) reads the same
folder, measured the same way; past the memory limit it is stopped and recorded as failed.
MLflow runs go to a sqlite store under benchmarks/work, not the project's mlflow.db. Usage:
    python benchmarks/scaling.py [--sizes 1000000,10000000,50000000]
        [--pandas-sizes 1000000,10000000] [--keep-data] [--timeout-s 5400] [--max-total-min M]
Prints a table and writes benchmarks/results/scaling.json (replacing it): per-size figures,
machine and load average, and the checks: time linear in rows, driver RSS flat from 10 M on.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from _measure import LoadSampler, Measurement, kedro_env, machine, measure  # noqa: E402

ROOT = Path(__file__).parents[1]
WORK = ROOT / "benchmarks/work/scaling"
RESULTS = ROOT / "benchmarks/results/scaling.json"
INGEST_RESULTS = ROOT / "benchmarks/results/ingest.json"
RAW_DIR = ROOT / "data/01_raw/nycflights13"
BIN = Path(sys.executable).parent
PIPELINES = "ingestion,cleaning,data_quality,features"
# Target: the driver's peak RSS at the largest size at most this times that at the next one.
DRIVER_RSS_GROWTH_TARGET = 1.2
# pandas is stopped once its tree passes this share of the memory available when it starts.
PANDAS_MEMORY_SHARE = 0.6


def _sizes(text: str) -> list[int]:
    return sorted({int(s.replace("_", "")) for s in text.split(",") if s.strip()})


def _env() -> dict[str, str]:
    return kedro_env(WORK / "mlflow.db")


def _kedro(*args: str, params: dict[str, str]) -> list[str]:
    joined = ",".join(f"{k}={v}" for k, v in params.items())
    return [str(BIN / "kedro"), "run", "--env", "scale", *args, "--params", joined]


class Deadline:
    """Seconds left for a measured run: --timeout-s each, within --max-total-min in all."""

    def __init__(self, per_run_s: float, total_min: float | None) -> None:
        self.per_run_s = per_run_s
        self.end = time.monotonic() + total_min * 60 if total_min else float("inf")

    def left(self) -> float:
        return max(0.0, min(self.per_run_s, self.end - time.monotonic()))


def _figures(m: Measurement, rows: int, load: LoadSampler) -> dict:
    result = {
        "wall_s": round(m.seconds, 2),
        "rows_per_s": round(rows / m.seconds) if m.returncode == 0 else None,
        "cpu_s": round(m.cpu_seconds, 1),
        "peak_rss_python_mb": round(m.peak_rss_root_mb),
        "peak_rss_jvm_mb": round(m.peak_rss_jvm_mb),
        "peak_rss_other_mb": round(m.peak_rss_other_mb),
        "peak_rss_total_mb": round(m.peak_rss_mb),
        "load_average_1m": load.summary(),
    }
    if m.returncode != 0:
        result["failed"] = m.killed or f"exit code {m.returncode}"
        result["output_tail"] = m.output_tail[-3000:]
        done = re.findall(r"Completed (\d+) out of (\d+) tasks", m.output_tail)
        if done:
            result["progress"] = f"{done[-1][0]} of {done[-1][1]} Kedro nodes completed"
    return result


def _generate(rows: int, landing: Path, timeout_s: float) -> tuple[float, str]:
    print(f"generating {rows:,} synthetic rows -> {landing}", flush=True)
    made = measure(
        _kedro(
            "--pipeline",
            "synthetic",
            params={"synthetic.rows": str(rows), "synthetic_dir": str(landing)},
        ),
        env=_env(),
        cwd=str(ROOT),
        timeout_s=timeout_s,
    )
    if made.killed:
        return made.seconds, f"{made.killed}\n{made.output_tail}"
    return made.seconds, "" if made.returncode == 0 else made.output_tail


def run_size(rows: int, with_pandas: bool, keep_data: bool, deadline: Deadline) -> dict:
    base = WORK / f"rows_{rows}"
    landing, out = base / "landing", base / "data"
    shutil.rmtree(base, ignore_errors=True)
    result: dict = {"rows": rows}
    if deadline.left() < 60:
        result["spark"] = {"failed": "not run: the --max-total-min budget was spent"}
        return result
    gen_seconds, gen_error = _generate(rows, landing, deadline.left())
    result["generation_s"] = round(gen_seconds, 1)
    if gen_error:
        result["spark"] = {"failed": "synthetic generation failed", "output_tail": gen_error}
        return result
    result["landing_mb"] = round(sum(f.stat().st_size for f in landing.glob("*.csv")) / 2**20)

    print(f"kedro run --env scale --pipelines {PIPELINES} on {rows:,} rows", flush=True)
    with LoadSampler() as load:
        spark = measure(
            _kedro(
                "--pipelines",
                PIPELINES,
                params={
                    "synthetic_dir": str(landing),
                    "flights_path": str(landing),
                    "data_dir": str(out),
                },
            ),
            env=_env(),
            cwd=str(ROOT),
            timeout_s=deadline.left(),
        )
    result["spark"] = _figures(spark, rows, load)
    accounting_file = out / "08_reporting/row_accounting.json"
    if spark.returncode == 0 and accounting_file.exists():
        accounting = json.loads(accounting_file.read_text())
        result["input_lines"] = accounting["ingestion"]["in"]
        result["row_accounting"] = {
            stage: {k: v for k, v in record.items() if k in ("in", "kept", "quarantined")}
            for stage, record in accounting.items()
            if isinstance(record, dict)
        }
    result["output_mb"] = round(
        sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**20
    )

    if with_pandas and deadline.left() < 60:
        result["pandas"] = {"failed": "not run: the --max-total-min budget was spent"}
    elif with_pandas:
        limit_mb = psutil.virtual_memory().available * PANDAS_MEMORY_SHARE / 2**20
        print(f"pandas ingestion+cleaning on {rows:,} rows (limit {limit_mb:,.0f} MB)", flush=True)
        with LoadSampler() as load:
            pandas = measure(
                [
                    sys.executable,
                    str(ROOT / "benchmarks/pandas_ingest.py"),
                    "--flights",
                    str(landing),
                    "--raw-dir",
                    str(RAW_DIR),
                    "--output",
                    str(base / "pandas.parquet"),
                ],
                env=_env(),
                rss_limit_mb=limit_mb,
                timeout_s=deadline.left(),
            )
        result["pandas"] = {**_figures(pandas, rows, load), "rss_limit_mb": round(limit_mb)}
    if not keep_data:
        shutil.rmtree(base, ignore_errors=True)
    return result


def _ok(part: dict | None) -> bool:
    return bool(part) and "failed" not in part and "wall_s" in part


def checks(runs: list[dict]) -> dict:
    """Time linearity, driver and JVM RSS growth, pandas/Spark ratios."""
    done = [r for r in runs if _ok(r.get("spark"))]
    out: dict = {
        "seconds_per_million_rows": {
            str(r["rows"]): round(r["spark"]["wall_s"] / (r["rows"] / 1e6), 2) for r in done
        }
    }
    if len(done) >= 2:
        largest = done[-1]
        big = largest["spark"]
        per_row = {r["rows"]: r["spark"]["wall_s"] / r["rows"] for r in done}
        out["per_row_cost_ratio"] = {
            f"{largest['rows']}/{rows}": round(per_row[largest["rows"]] / cost, 3)
            for rows, cost in list(per_row.items())[:-1]
        }
        # CPU seconds are the work done: on a shared machine wall time also measures the others.
        out["cpu_seconds_per_million_rows"] = {
            str(r["rows"]): round(r["spark"]["cpu_s"] / (r["rows"] / 1e6), 2)
            for r in done
            if "cpu_s" in r["spark"]
        }
        # Fixed costs (JVM and Kedro start-up, GX context) cancel in the marginal cost.
        out["marginal_seconds_per_million_rows"] = {
            f"{b['rows']}-{a['rows']}": round(
                (b["spark"]["wall_s"] - a["spark"]["wall_s"]) / ((b["rows"] - a["rows"]) / 1e6), 2
            )
            for a, b in zip(done, done[1:], strict=False)
        }
        prev = done[-2]["spark"]
        key = f"{largest['rows']}/{done[-2]['rows']}"
        driver = big["peak_rss_python_mb"] / prev["peak_rss_python_mb"]
        out["driver_rss_growth"] = {
            key: round(driver, 3),
            "target": DRIVER_RSS_GROWTH_TARGET,
            "met": driver <= DRIVER_RSS_GROWTH_TARGET,
        }
        out["jvm_rss_growth"] = {key: round(big["peak_rss_jvm_mb"] / prev["peak_rss_jvm_mb"], 3)}
        out["total_rss_growth"] = {
            key: round(big["peak_rss_total_mb"] / prev["peak_rss_total_mb"], 3)
        }
    ratios = {}
    for r in done:
        pandas = r.get("pandas")
        if not pandas:
            continue
        if not _ok(pandas):
            ratios[str(r["rows"])] = {"pandas_failed": pandas.get("failed")}
            continue
        ratios[str(r["rows"])] = {
            "wall_pandas_over_spark": round(pandas["wall_s"] / r["spark"]["wall_s"], 3),
            "peak_rss_pandas_over_spark": round(
                pandas["peak_rss_total_mb"] / r["spark"]["peak_rss_total_mb"], 3
            ),
        }
    if ratios:
        out["pandas_over_spark"] = {
            "scope": "pandas: ingestion+cleaning only; Spark: the four pipelines",
            **ratios,
        }
    return out


def _same_scope_reference() -> dict:
    """Kedro ingestion+cleaning alone, as `make bench-ingest` last measured it (same scope as
    pandas), so the pandas contrast can be read like for like."""
    if not INGEST_RESULTS.exists():
        return {}
    ref = {}
    for rows, run in json.loads(INGEST_RESULTS.read_text()).get("runs", {}).items():
        for v in run.get("variants", []):
            if v["variant"].startswith("kedro") and "seconds" in v:
                ref[rows] = {
                    "wall_s": v["seconds"],
                    "peak_rss_mb": v["peak_rss_mb"],
                    "measured_at": run.get("measured_at"),
                }
    return ref


def _source() -> str:
    """The commit measured (and whether the tree differs from it), or $SCALING_SOURCE_COMMIT."""
    try:
        return subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("SCALING_SOURCE_COMMIT", "unknown")


def _mb(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


def print_table(report: dict) -> None:
    print(f"\n`kedro run --env scale --pipelines {PIPELINES}`")
    print(
        "| rows | input lines | wall s | rows/s | s per M rows "
        "| Python peak MB | JVM peak MB | total peak MB | load avg (mean/max) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in report["runs"]:
        s = r.get("spark", {})
        if "wall_s" not in s:
            print(f"| {r['rows']:,} | failed: {s.get('failed', '?')} |")
            continue
        load = s["load_average_1m"]
        # A run stopped part-way: its wall time so far and its peaks up to then.
        lines, rate, per_m = (
            (
                f"{r.get('input_lines', 0):,}",
                f"{s['rows_per_s']:,}",
                f"{s['wall_s'] / (r['rows'] / 1e6):,.1f}",
            )
            if _ok(s)
            else (f"failed: {s['failed']}", "-", "-")
        )
        print(
            f"| {r['rows']:,} | {lines} | {s['wall_s']:,.1f} | {rate} | {per_m} "
            f"| {_mb(s['peak_rss_python_mb'])} | {_mb(s['peak_rss_jvm_mb'])} "
            f"| {_mb(s['peak_rss_total_mb'])} | {load['mean']} / {load['max']} |"
        )
    pandas_runs = [r for r in report["runs"] if "pandas" in r]
    if pandas_runs:
        print("\npandas ingestion+cleaning (benchmarks/pandas_ingest.py)")
        print("| rows | wall s | rows/s | peak RSS MB | vs Spark wall | vs Spark peak RSS |")
        print("|---:|---:|---:|---:|---:|---:|")
        ratios = report["checks"].get("pandas_over_spark", {})
        for r in pandas_runs:
            p = r["pandas"]
            if not _ok(p):
                peak = _mb(p.get("peak_rss_total_mb"))
                print(f"| {r['rows']:,} | failed: {p.get('failed')} | | {peak} | | |")
                continue
            ratio = ratios.get(str(r["rows"]), {})
            print(
                f"| {r['rows']:,} | {p['wall_s']:,.1f} | {p['rows_per_s']:,} "
                f"| {p['peak_rss_total_mb']:,} | {ratio.get('wall_pandas_over_spark', '-')} "
                f"| {ratio.get('peak_rss_pandas_over_spark', '-')} |"
            )
    c = report["checks"]
    print(f"\nseconds per million rows: {c['seconds_per_million_rows']}")
    for key in (
        "cpu_seconds_per_million_rows",
        "per_row_cost_ratio",
        "marginal_seconds_per_million_rows",
        "driver_rss_growth",
        "jvm_rss_growth",
    ):
        if key in c:
            print(f"{key}: {c[key]}")
    print(f"load average: {report['load_average']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=_sizes, default=_sizes("1000000,10000000,50000000"))
    parser.add_argument("--pandas-sizes", type=_sizes, default=_sizes("1000000,10000000"))
    parser.add_argument("--keep-data", action="store_true", help="keep benchmarks/work/scaling")
    parser.add_argument(
        "--timeout-s", type=float, default=5400, help="stop a measured run after this long"
    )
    parser.add_argument(
        "--max-total-min",
        type=float,
        help="stop (and record as such) whatever is still running after this many minutes",
    )
    args = parser.parse_args()
    free_gib = shutil.disk_usage(ROOT).free / 2**30
    # The landing CSV is ~0.2 GB per million rows; Parquet outputs and Spark's spill add ~as much.
    need_gib = max(args.sizes) / 1e6 * 0.5
    if free_gib < need_gib:
        sys.exit(f"{free_gib:.0f} GiB free on disk; {max(args.sizes):,} rows need ~{need_gib:.0f}")
    WORK.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": _source(),
        "command": f"kedro run --env scale --pipelines {PIPELINES}",
        "machine": machine(ROOT),
        "load_average": {"before": [round(x, 2) for x in os.getloadavg()]},
        "runs": [],
    }
    deadline = Deadline(args.timeout_s, args.max_total_min)
    for rows in args.sizes:
        report["runs"].append(run_size(rows, rows in args.pandas_sizes, args.keep_data, deadline))
        report["checks"] = checks(report["runs"])
        report["load_average"]["after"] = [round(x, 2) for x in os.getloadavg()]
        report["same_scope_reference_kedro_ingestion_cleaning"] = _same_scope_reference()
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(report, indent=2) + "\n")  # after every size
        print(json.dumps(report["runs"][-1].get("spark", {}), indent=None)[:600], flush=True)
    if not args.keep_data:
        shutil.rmtree(WORK, ignore_errors=True)
    print_table(report)
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
