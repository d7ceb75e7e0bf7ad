"""Benchmark: the model against its HistGradientBoosting baseline, over several seeds per task.

For each task the data is prepared once (`kedro run --pipelines ingestion,cleaning,data_quality,
features` into a data folder of its own under a temporary directory), then for each seed
`kedro run --pipelines training,evaluation` with `training.seed` and `evaluation.baseline.seed`
set to it. The tasks:
  - flights_time:   conf/base, the time split (train Jan-Aug, validate Sep-Oct, test Nov-Dec);
  - flights_random: the same flights, `features.split.method: random` (70/10/20 by a hash);
  - regression:     `--env regression`, the arrival delay in minutes (RMSE, lower is better);
  - orders:         a dataset the project does not ship, configured through the guide
                    (docs/your_dataset.md): tests/guide_orders.py generates 60,000 orders of three
                    tiers and writes their env, with the default model and baseline, into a copy
                    of conf/ (`--conf-source`); its expectation suite is the profile's draft, as
                    the guide says. Accuracy, higher is better.
  - orders_tuned:   the same, prepared apart, after one `kedro run --pipelines tune` limited to
                    --tune-minutes (default 25); its tuned keys are what the seeds' training reads.
Each run's test metric, wall seconds, training seconds, epochs run and the baseline's iterations
come from the run's metrics.json and training_history.json; the seed MLflow logged is checked.
MLflow runs go to a sqlite store in the temporary directory, never the project's mlflow.db.
Usage (on a quiet machine: it is long, a data preparation per task and a training per seed):
    python benchmarks/model.py [--tasks flights_time,flights_random,regression] [--seeds 1,2,3]
        [--output benchmarks/results/model.json] [--params training.epochs=2,...]
        [--data-dir DIR]  (prepare each task once into DIR/<task>, reuse it on later calls)
        [--tune-minutes M]  (orders_tuned's tune run budget)
Prints a table and writes the JSON (`tasks`: per task the metric, model and baseline mean, sd and
runs; `load_average`, `machine`, `date`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parents[1]))  # tests.guide_orders, for the orders task
from _measure import LoadSampler, kedro_env, machine, measure  # noqa: E402

ROOT = Path(__file__).parents[1]
RESULTS = ROOT / "benchmarks/results/model.json"
BIN = Path(sys.executable).parent
PREPARE = "ingestion,cleaning,data_quality,features"
FIT = "training,evaluation"
# name: the Kedro env, the runtime parameters that make the task, its test metric.
TASKS: dict[str, dict[str, Any]] = {
    "flights_time": {"env": None, "params": {}, "metric": "roc_auc", "higher_is_better": True},
    "flights_random": {
        "env": None,
        "params": {
            "features.split.method": "random",
            "features.split.fractions.train": "0.7",
            "features.split.fractions.validation": "0.1",
            "features.split.fractions.test": "0.2",
        },
        "metric": "roc_auc",
        "higher_is_better": True,
    },
    "regression": {
        "env": "regression",
        "params": {},
        "metric": "rmse",
        "higher_is_better": False,
    },
    "orders": {"env": "orders", "params": {}, "metric": "accuracy", "higher_is_better": True},
    # The same dataset after one `kedro run --pipelines tune` of --tune-minutes (default 25):
    # its parameters_training_tuned.yml in the copied conf's env, which training then reads.
    "orders_tuned": {
        "env": "orders",
        "params": {},
        "metric": "accuracy",
        "higher_is_better": True,
        "tune": True,
    },
}
ORDERS_ROWS = 60_000


def spread(values: list[float]) -> dict[str, float | None]:
    """Returns the mean and the sample standard deviation (None for fewer than two values)."""
    if not values:
        return {"mean": None, "sd": None}
    sd = statistics.stdev(values) if len(values) > 1 else None
    return {"mean": round(statistics.fmean(values), 6), "sd": None if sd is None else round(sd, 6)}


def task_result(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Returns one task's entry of model.json from its per-seed runs (see `read_run`)."""
    task = TASKS[name]
    result: dict[str, Any] = {
        "metric": task["metric"],
        "higher_is_better": task["higher_is_better"],
    }
    for who in ("model", "baseline"):
        who_runs = [{"seed": run["seed"], **run[who]} for run in runs]
        result[who] = {**spread([r["metric"] for r in who_runs]), "runs": who_runs}
    return result


def report(
    tasks: dict[str, list[dict[str, Any]]], load_average: dict[str, Any], on: dict[str, Any]
) -> dict[str, Any]:
    """Returns model.json: every task's result, the load average, the machine and the date."""
    return {
        "tasks": {name: task_result(name, runs) for name, runs in tasks.items()},
        "load_average": load_average,
        "machine": on,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def read_run(
    seed: int, metric: str, metrics: dict[str, Any], history: dict[str, Any], seconds: float
) -> dict[str, Any]:
    """Returns one seed's figures from its metrics.json and training_history.json."""
    summary, fit = history["summary"], metrics["baseline"]["fit"]
    return {
        "seed": seed,
        "model": {
            "metric": metrics["model"][metric],
            "seconds": round(seconds, 1),  # the whole training+evaluation run
            "train_seconds": round(sum(summary["epoch_seconds"]), 1),
            "epochs_run": summary["epochs_run"],
            "best_epoch": summary["best_epoch"],
        },
        "baseline": {
            "metric": metrics["baseline"][metric],
            "seconds": fit["fit_seconds"],
            "iterations": fit["iterations"],
            "max_iter": fit["max_iter"],
            "stopped_early": fit["stopped_early"],
        },
    }


def _env(work: Path) -> dict[str, str]:
    return kedro_env(work / "mlflow.db", TF_CPP_MIN_LOG_LEVEL="2")


def _kedro(
    env: str | None, pipelines: str, params: dict[str, str], conf: Path | None = None
) -> list[str]:
    joined = ",".join(f"{k}={v}" for k, v in params.items())
    return [
        str(BIN / "kedro"), "run", *(["--env", env] if env else []),
        *(["--conf-source", str(conf)] if conf else []),
        "--pipelines", pipelines, "--params", joined,
    ]  # fmt: skip


def _prepare_orders(task_dir: Path, params: dict[str, str], work: Path) -> None:
    """Generates the orders dataset and its env (task_dir/conf) as the guide says.

    The guide's order: ingestion and cleaning, the profile's drafted suite copied into the env,
    then the data quality and features stages.
    """
    from tests.guide_orders import write_dataset, write_env  # noqa: PLC0415 - orders only

    raw, data, conf = task_dir / "raw", task_dir / "data", task_dir / "conf"
    shutil.rmtree(task_dir, ignore_errors=True)
    write_dataset(raw, n_rows=ORDERS_ROWS)
    shutil.copytree(ROOT / "conf", conf, ignore=shutil.ignore_patterns("local"))
    (conf / "local").mkdir()
    env = write_env(conf, raw, data, trial=False)
    _run(_kedro("orders", "ingestion,cleaning,profile", params, conf), work, "orders: profile")
    (env / "expectations").mkdir()
    draft = data / "08_reporting/profile/expectation_suite.yml"
    shutil.copy(draft, env / "expectations/orders.yml")
    _run(_kedro("orders", PREPARE, params, conf), work, "orders: prepare")


def _run(cmd: list[str], work: Path, what: str) -> float:
    print(f"{what}: {' '.join(cmd[1:])}", flush=True)
    measured = measure(cmd, env=_env(work), cwd=str(ROOT))
    if measured.returncode:
        sys.exit(f"{what} failed (exit code {measured.returncode}):\n{measured.output_tail}")
    return measured.seconds


def _logged_seeds(work: Path) -> dict[str, str]:
    """The seeds the latest MLflow run logged (kedro-mlflow flattens the parameters)."""
    from mlflow import MlflowClient  # noqa: PLC0415 - slow; the results code does not need it

    client = MlflowClient(tracking_uri=f"sqlite:///{work / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("ml-lifecycle")
    (run,) = client.search_runs(
        [experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1
    )
    keys = ("training.seed", "evaluation.baseline.seed")
    return {key: run.data.params.get(key) for key in keys}


def _tune(name: str, task_dir: Path, params: dict[str, str], work: Path, minutes: float) -> dict:
    """Runs the tune pipeline once (unbounded trials, `minutes` of wall clock); returns what it
    found: the tuned keys, its trials by state, its wall seconds."""
    import optuna  # noqa: PLC0415 - orders_tuned only
    import yaml  # noqa: PLC0415

    study = f"bench_{name}"
    budget = {**params, "tune.study_name": study, "tune.n_trials": "100000"}
    budget["tune.timeout_minutes"] = str(minutes)
    seconds = _run(_kedro("orders", "tune", budget, task_dir / "conf"), work, f"{name}: tune")
    tuned_file = task_dir / "conf/orders/parameters_training_tuned.yml"
    keys = yaml.safe_load(tuned_file.read_text())["training_tuned"]
    storage = f"sqlite:///{task_dir / 'data/06_models/tune/study.db'}"
    trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    states = dict(Counter(trial.state.name for trial in trials))
    print(f"{name}: tuned in {seconds:.0f} s, trials {states}: {keys}", flush=True)
    return {"keys": keys, "trials": states, "tune_seconds": round(seconds, 1), "minutes": minutes}


def run_task(  # noqa: PLR0913 - the task, its seeds, extra parameters, where, the tune budget
    name: str,
    seeds: list[int],
    extra: dict[str, str],
    work: Path,
    data_root: Path | None = None,
    tune_minutes: float = 25,
) -> list[dict]:
    """Prepares the task's data once, then trains and evaluates once per seed.

    With `data_root`, the task's data lives in data_root/<task> and stays: a later call finds
    its features (04_feature/feature_statistics.json) and does not prepare it again.
    """
    task = TASKS[name]
    task_dir = (data_root or work) / name
    # orders: the generated dataset's data, raw files and conf sit side by side in task_dir.
    generated = task["env"] == "orders"
    data = task_dir / "data" if generated else task_dir
    conf = task_dir / "conf" if generated else None
    params = {"data_dir": str(data), **task["params"], **extra}
    if data_root and (data / "04_feature/feature_statistics.json").is_file():
        print(f"{name}: reusing the prepared data in {data}", flush=True)
    elif generated:
        _prepare_orders(task_dir, params, work)
    else:
        _run(_kedro(task["env"], PREPARE, params), work, f"{name}: prepare")
    tuned: dict[str, Any] = {}
    if task.get("tune"):
        tuned = _tune(name, task_dir, params, work, tune_minutes)
    runs = []
    for seed in seeds:
        seeded = {**params, "training.seed": str(seed), "evaluation.baseline.seed": str(seed)}
        seconds = _run(_kedro(task["env"], FIT, seeded, conf), work, f"{name}: seed {seed}")
        logged = _logged_seeds(work)
        if set(logged.values()) != {str(seed)}:
            sys.exit(f"{name}: MLflow logged {logged}, not seed {seed}")
        metrics = json.loads((data / "08_reporting/evaluation/metrics.json").read_text())
        history = json.loads((data / "06_models/training_history.json").read_text())
        runs.append(read_run(seed, task["metric"], metrics, history, seconds))
        if tuned:
            runs[-1]["model"]["tuned"] = tuned
        model, base = runs[-1]["model"], runs[-1]["baseline"]
        print(
            f"{name} seed {seed}: model {task['metric']}={model['metric']:.4f} "
            f"({model['epochs_run']} epochs), baseline {base['metric']:.4f} "
            f"({base['iterations']}/{base['max_iter']} iterations)",
            flush=True,
        )
    if data_root is None:
        shutil.rmtree(task_dir, ignore_errors=True)
    return runs


def _cell(result: dict[str, Any]) -> str:
    sd = result["sd"]
    return f"{result['mean']:.4f} ± {sd:.4f}" if sd is not None else f"{result['mean']:.4f}"


def print_table(results: dict[str, Any]) -> None:
    """Prints the tasks side by side: model and baseline mean ± sd, epochs, iterations."""
    print(
        "\n| task | metric | model (mean ± sd) | baseline (mean ± sd) | model epochs "
        "| baseline iterations / max_iter | seeds |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, task in results["tasks"].items():
        model, base = task["model"], task["baseline"]
        epochs = ", ".join(str(r["epochs_run"]) for r in model["runs"])
        iterations = ", ".join(f"{r['iterations']}/{r['max_iter']}" for r in base["runs"])
        better = "higher" if task["higher_is_better"] else "lower"
        print(
            f"| {name} | {task['metric']} ({better} is better) | {_cell(model)} | {_cell(base)} "
            f"| {epochs} | {iterations} | {len(model['runs'])} |"
        )
    print(f"\nload average: {results['load_average']}")


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in TASKS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown tasks {unknown}; the tasks are {list(TASKS)}")
    return names


def _params(text: str) -> dict[str, str]:
    pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
    if any(len(p) != 2 for p in pairs):
        raise argparse.ArgumentTypeError("--params takes key=value pairs separated by commas")
    return {k.strip(): v.strip() for k, v in pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=_names, default=list(TASKS))
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds, e.g. 1,2,3")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--params", type=_params, default={}, help="extra runtime parameters for every run"
    )
    parser.add_argument(
        "--tune-minutes", type=float, default=25, help="orders_tuned: the tune run's budget"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="keep each task's prepared data in DIR/<task> and reuse it (a sweep of --params)",
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    load: dict[str, Any] = {"before": [round(x, 2) for x in os.getloadavg()]}
    tasks = {}
    work = Path(tempfile.mkdtemp(prefix="ml-lifecycle-bench-model-"))
    try:
        with LoadSampler() as sampler:
            for name in args.tasks:
                tasks[name] = run_task(
                    name, seeds, args.params, work, args.data_dir, args.tune_minutes
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load.update(during_1m=sampler.summary(), after=[round(x, 2) for x in os.getloadavg()])
    results = report(tasks, load, machine(ROOT))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"\nwrote {args.output}")
    if args.params:
        print(f"(with --params {args.params}: not the benchmark's settings)")


if __name__ == "__main__":
    main()
