"""Benchmark: the Spark path against hand-written Spark, side by side, on the same landing data.

For each size the `synthetic` pipeline writes one landing folder (not timed); then, one after
the other on that folder, each measured the same way (wall time, Spark jobs and their summed
seconds from Spark's event log, rows/s, peak RSS of the Python driver and of the JVM apart):

- `lifecycle`: `kedro run --env scale --pipelines ingestion,cleaning,data_quality,features`,
  against benchmarks/reference_lifecycle.py (the same work as one hand-written script);
- `ingest`: `kedro run --env scale --pipelines ingestion,cleaning`, against
  benchmarks/handtuned_ingest.py, and pandas (benchmarks/pandas_ingest.py) at the sizes where it
  is asked for: past its memory limit it is stopped and recorded as failed.

After the `lifecycle` comparison, one training epoch streams the project's model input from
Parquet (benchmarks/input_pipeline.py's `streamed` feed, its own process): examples/s and peak RSS.

Usage:
    python benchmarks/lifecycle.py [--sizes 1000000,10000000,50000000]
        [--pandas-sizes 1000000,10000000] [--reference-sizes 1000000,10000000]
        [--epoch-sizes 1000000,10000000] [--only lifecycle|ingest] [--timeout-s 5400]
`--reference-sizes` (default: every size) limits where the reference runs: at 50 M rows the
project's own curve (seconds per million rows, RSS) is the figure, and the reference would double
a run of hours; `--epoch-sizes` likewise for the epoch. pandas (ingestion + cleaning) runs once
per size of `--pandas-sizes`, beside the `ingest` scope, or the `lifecycle` one without it.
Writes benchmarks/results/lifecycle.json after every size: {"runs": [{"rows", "ratio",
"seconds_per_million_rows", "spark_jobs", "peak_rss_driver_mb", "peak_rss_jvm_mb",
"load_average", "epoch", ...}, ...]}, one entry per size and comparison; a (scope, size) measured
again replaces its earlier entry, the others stay.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from _measure import (  # noqa: E402
    LoadSampler,
    event_log_args,
    kedro_env,
    machine,
    measure,
    spark_jobs,
)
from scaling import Deadline, _generate, _sizes, _source  # noqa: E402

ROOT = Path(__file__).parents[1]
WORK = ROOT / "benchmarks/work/lifecycle"
RESULTS = ROOT / "benchmarks/results/lifecycle.json"
RAW_DIR = ROOT / "data/01_raw/nycflights13"
BIN = Path(sys.executable).parent
PANDAS_MEMORY_SHARE = 0.6
SCOPES = {
    "lifecycle": ("ingestion,cleaning,data_quality,features", "reference_lifecycle.py"),
    "ingest": ("ingestion,cleaning", "handtuned_ingest.py"),
}


def _run(name: str, cmd: list[str], rows: int, base: Path, deadline: Deadline, **kw) -> dict:
    events = base / f"events_{name}"
    shutil.rmtree(events, ignore_errors=True)
    env = kedro_env(WORK / "mlflow.db", **event_log_args(events))
    print(f"  {name}: {' '.join(cmd[-4:])[:120]}", flush=True)
    with LoadSampler() as load:
        m = measure(cmd, env=env, cwd=str(ROOT), timeout_s=deadline.left(), **kw)
    result = {
        "wall_s": round(m.seconds, 1),
        "rows_per_s": round(rows / m.seconds),
        "peak_rss_driver_mb": round(m.peak_rss_root_mb),
        "peak_rss_jvm_mb": round(m.peak_rss_jvm_mb),
        "peak_rss_total_mb": round(m.peak_rss_mb),
        "cpu_s": round(m.cpu_seconds, 1),
        "load_average": load.summary(),
    }
    if m.returncode != 0:
        result["failed"] = m.killed or f"exit code {m.returncode}"
        result["output_tail"] = m.output_tail[-2000:]
    if events.exists():
        jobs = spark_jobs(events)
        result["spark_jobs"], result["spark_job_seconds"] = jobs["jobs"], jobs["job_seconds"]
        result["top_call_sites"] = jobs["by_call_site"][:8]
    print(f"    {json.dumps({k: v for k, v in result.items() if k != 'top_call_sites'})[:400]}")
    return result


def _compare(  # noqa: PLR0913 - the size's inputs
    scope: str,
    rows: int,
    landing: Path,
    base: Path,
    deadline: Deadline,
    reference: bool,
    epoch: bool,
) -> dict:
    pipelines, script = SCOPES[scope]
    out = base / f"out_{scope}"
    params = f"synthetic_dir={landing},flights_path={landing},data_dir={out}/project"
    project = _run(
        "project",
        [str(BIN / "kedro"), "run", "--env", "scale", "--pipelines", pipelines, "--params", params],
        rows,
        base,
        deadline,
    )
    if reference:
        reference = _run(
            "reference",
            [sys.executable, str(ROOT / "benchmarks" / script), "--flights", str(landing),
             "--raw-dir", str(RAW_DIR), "--output", str(out / "reference")],
            rows, base, deadline,
        )  # fmt: skip
    else:
        reference = {"failed": "not run at this size (--reference-sizes)"}
    run = {
        "rows": rows,
        "scope": scope,
        "command": f"kedro run --env scale --pipelines {pipelines}",
        "reference": f"benchmarks/{script}",
        "project": project,
        "reference_run": reference,
    }
    if "failed" not in project and "failed" not in reference:
        run["ratio"] = round(project["wall_s"] / reference["wall_s"], 3)
    run["seconds_per_million_rows"] = round(project["wall_s"] / (rows / 1e6), 2)
    run["spark_jobs"] = project.get("spark_jobs")
    run["peak_rss_driver_mb"] = project["peak_rss_driver_mb"]
    run["peak_rss_jvm_mb"] = project["peak_rss_jvm_mb"]
    run["load_average"] = project["load_average"]
    if scope == "lifecycle" and epoch and "failed" not in project:
        run["epoch"] = _epoch(out / "project", deadline)
    shutil.rmtree(out, ignore_errors=True)
    return run


def _epoch(data: Path, deadline: Deadline) -> dict:
    """One training epoch streamed from the model input the project run wrote."""
    cmd = [sys.executable, str(ROOT / "benchmarks/input_pipeline.py"), "--feed", "streamed",
           "--data", str(data), "--epochs", "1"]  # fmt: skip
    print(f"  epoch: streamed from {data}", flush=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    m = measure(cmd, env=env, cwd=str(ROOT), timeout_s=deadline.left())
    line = [x for x in m.output_tail.splitlines() if x.startswith("RESULT ")]
    if m.returncode or not line:
        failed = m.killed or f"exit code {m.returncode}"
        return {"failed": failed, "output_tail": m.output_tail[-2000:]}
    figures = json.loads(line[-1][len("RESULT ") :])
    result = {
        "train_rows": figures["rows"],
        "examples_per_s": round(figures["examples_per_second"]),
        "epoch_s": figures["epoch_seconds"][0],
        "peak_rss_mb": round(m.peak_rss_mb),
        "wall_s": round(m.seconds, 1),
    }
    print(f"    {json.dumps(result)}", flush=True)
    return result


def _pandas(rows: int, landing: Path, base: Path, deadline: Deadline) -> dict:
    limit_mb = psutil.virtual_memory().available * PANDAS_MEMORY_SHARE / 2**20
    cmd = [sys.executable, str(ROOT / "benchmarks/pandas_ingest.py"), "--flights", str(landing),
           "--raw-dir", str(RAW_DIR), "--output", str(base / "pandas.parquet")]  # fmt: skip
    result = _run("pandas", cmd, rows, base, deadline, rss_limit_mb=limit_mb)
    result["rss_limit_mb"] = round(limit_mb)
    (base / "pandas.parquet").unlink(missing_ok=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=_sizes, default=_sizes("1000000,10000000,50000000"))
    parser.add_argument("--pandas-sizes", type=_sizes, default=_sizes("1000000,10000000"))
    parser.add_argument("--reference-sizes", type=_sizes)
    parser.add_argument("--epoch-sizes", type=_sizes, default=_sizes("1000000,10000000"))
    parser.add_argument("--only", choices=sorted(SCOPES), action="append")
    parser.add_argument("--timeout-s", type=float, default=5400)
    parser.add_argument("--keep-landing", action="store_true")
    args = parser.parse_args()
    scopes = args.only or list(SCOPES)
    report = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": _source(),
        "machine": machine(ROOT),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "runs": [],
    }
    if RESULTS.exists():  # earlier entries stay unless measured again
        earlier = json.loads(RESULTS.read_text()).get("runs", [])
        again = {(scope, rows) for scope in scopes for rows in args.sizes}
        report["runs"] = [r for r in earlier if (r["scope"], r["rows"]) not in again]
    for rows in args.sizes:
        base = WORK / f"rows_{rows}"
        landing = base / "landing"
        deadline = Deadline(args.timeout_s, None)
        if not (landing / "_SUCCESS").exists():
            shutil.rmtree(base, ignore_errors=True)
            _, error = _generate(rows, landing, args.timeout_s)
            if error:
                sys.exit(f"synthetic generation failed:\n{error}")
        print(f"{rows:,} rows", flush=True)
        with_reference = args.reference_sizes is None or rows in args.reference_sizes
        pandas_beside = "ingest" if "ingest" in scopes else scopes[0]
        for scope in scopes:
            epoch = rows in args.epoch_sizes
            run = _compare(scope, rows, landing, base, deadline, with_reference, epoch)
            if scope == pandas_beside and rows in args.pandas_sizes:
                run["pandas"] = _pandas(rows, landing, base, deadline)
            report["runs"].append(run)
            report["runs"].sort(key=lambda r: (r["scope"], r["rows"]))
            RESULTS.write_text(json.dumps(report, indent=2) + "\n")
        if not args.keep_landing:
            shutil.rmtree(base, ignore_errors=True)
    print(
        "\n| scope | rows | project s | reference s | ratio | s per M rows | jobs | driver MB "
        "| JVM MB | load |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in report["runs"]:
        p, ref = r["project"], r["reference_run"]
        print(
            f"| {r['scope']} | {r['rows']:,} | {p['wall_s']} | {ref.get('wall_s')} "
            f"| {r.get('ratio')} "
            f"| {r['seconds_per_million_rows']} | {r['spark_jobs']} / {ref.get('spark_jobs')} "
            f"| {r['peak_rss_driver_mb']} | {r['peak_rss_jvm_mb']} "
            f"| {p['load_average']['mean']} |"
        )
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
