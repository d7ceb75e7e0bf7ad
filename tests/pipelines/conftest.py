"""In-process pipeline runs: a stage's real pipeline on the project's catalog and conf/base params.

`project_catalog` builds the catalog a `kedro run` builds (KedroContext over conf/, the `local`
env, the project's config loader) with every path moved under a temporary folder, and
`run_stages` runs pipelines on it with Kedro's SequentialRunner, hooks left out (no MLflow run,
no Spark session of the hooks: the session-scoped `spark` fixture serves every dataset).

The raw sources are written from tiny in-code rows with the sample's schema (`write_landing`):
60 good flights in 2013 (five a month, every fifth delayed) plus one record of each kind a stage
must set aside, so each stage's row accounting can be checked exactly.
"""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import mlflow
import pytest
from kedro.framework.context import KedroContext
from kedro.framework.hooks.manager import _create_hook_manager
from kedro.framework.project import configure_project, pipelines, settings
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner
from mlflow import MlflowClient

from ml_lifecycle.pipelines.training.nodes import train_model
from tests.model_data import TRAINING, write_shards

ROOT = Path(__file__).parents[2]

FLIGHT_COLUMNS = (
    "year,month,day,dep_time,sched_dep_time,dep_delay,arr_time,sched_arr_time,arr_delay,"
    "carrier,flight,tailnum,origin,dest,air_time,distance,hour,minute,time_hour"
)
WEATHER_COLUMNS = (
    "origin,year,month,day,hour,temp,dewp,humid,wind_dir,wind_speed,wind_gust,precip,pressure,"
    "visib,time_hour"
)
CARRIERS = ("AA", "UA", "DL", "B6")
ORIGINS = ("EWR", "JFK", "LGA")
DESTS = {"ATL": 762.0, "ORD": 719.0, "MIA": 1089.0}
GOOD_FLIGHTS = 60
# Flight numbers of the rows that are not good flights, by the stage that sets them aside.
NO_ARRIVAL = 900  # cleaning: arr_delay missing (the target)
BAD_MONTH = 901  # cleaning: month 13
DUPLICATE = 5  # cleaning: a second copy of flight 5 (same key)
HOT = 3  # data_quality: its weather reads 200 F (plausible_temp_f quarantines it)
BAD_DEST = 7  # data_quality: dest "x7z" (dest_is_iata quarantines it)
MALFORMED = "2013,5,x,,,,,,,AA,999,N1,EWR,ATL,,762,5,0,2013-05-01T10:00:00Z"  # ingestion


def _flight(i: int, **changes: Any) -> dict[str, Any]:
    month = i % 12 + 1
    day = i % 28 + 1
    sched_dep = 500 + (i % 15) * 100
    delayed = i % 5 == 0
    arr_delay = 30.0 + i if delayed else -5.0 + i % 10
    dest = list(DESTS)[i % 3]
    origin = ORIGINS[(i // 3) % 3]
    time_hour = datetime(2013, month, day, sched_dep // 100) + timedelta(hours=5)
    row = {
        "year": 2013,
        "month": month,
        "day": day,
        "dep_time": float(sched_dep + 5),
        "sched_dep_time": sched_dep,
        "dep_delay": 5.0,
        "arr_time": float(sched_dep + 200),
        "sched_arr_time": sched_dep + 200,
        "arr_delay": arr_delay,
        "carrier": CARRIERS[i % 4],
        "flight": 100 + i if i < 100 else i,
        "tailnum": f"N{i % 5}",
        "origin": origin,
        "dest": dest,
        "air_time": 100.0 + i % 7,
        "distance": DESTS[dest],
        "hour": sched_dep // 100,
        "minute": 0,
        "time_hour": time_hour.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    row.update(changes)
    return row


def flight_rows() -> list[dict[str, Any]]:
    """The landing's flights, parsed: 60 good ones, then those cleaning must quarantine."""
    rows = [_flight(i) for i in range(GOOD_FLIGHTS)]
    rows[BAD_DEST]["dest"] = "x7z"
    rows.append(_flight(NO_ARRIVAL, arr_delay=None))
    rows.append(_flight(BAD_MONTH, month=13))
    rows.append(_flight(DUPLICATE))
    return rows


def _csv(header: str, rows: list[dict[str, Any]]) -> str:
    columns = header.split(",")
    lines = [",".join("" if r[c] is None else str(r[c]) for c in columns) for r in rows]
    return "\n".join([header, *lines]) + "\n"


def write_landing(raw_dir: Path, flights: list[dict[str, Any]] | None = None) -> Path:
    """Writes the five raw sources into raw_dir (gzipped CSV); returns the flights file."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    flights = flight_rows() if flights is None else flights
    weather = []
    for i, r in enumerate(flights[:GOOD_FLIGHTS]):
        hot = r["flight"] == 100 + HOT
        weather.append(
            {
                "origin": r["origin"],
                "year": 2013,
                "month": r["month"],
                "day": r["day"],
                "hour": r["hour"],
                "temp": 200.0 if hot else 40.0 + r["month"],
                "dewp": 30.0 + i % 5,
                "humid": 50.0 + i % 20,
                "wind_dir": 10.0 * (i % 36),
                "wind_speed": 5.0 + i % 7,
                "wind_gust": 20.0 + i % 5 if i % 3 == 0 else None,
                "precip": 0.01 * (i % 4),
                "pressure": 1000.0 + i % 15,
                "visib": 10.0 - i % 3,
                "time_hour": r["time_hour"],
            }
        )
    # A second reading for the first flight's hour: ingestion keeps one, quarantines the other.
    weather.append({**weather[0], "temp": 99.0})
    planes = "tailnum,year,type,manufacturer,model,engines,seats,speed,engine\n" + "".join(
        f"N{i},{2000 + i}.0,Fixed wing multi engine,EMBRAER,E{i},2,{50 + i},,Turbo-fan\n"
        for i in range(5)
    )
    airports = "faa,name,lat,lon,alt,tz,dst,tzone\n" + "".join(
        f"{code},{code} Intl,{30 + i}.5,-{80 + i}.5,{100 * i},-5,A,America/New_York\n"
        for i, code in enumerate(DESTS)
    )
    airlines = "carrier,name\n" + "".join(f"{c},{c} Airlines\n" for c in CARRIERS)
    flights_csv = _csv(FLIGHT_COLUMNS, flights)
    flights_csv += MALFORMED + "\n"
    files = {
        "flights.csv.gz": flights_csv,
        "weather.csv.gz": _csv(WEATHER_COLUMNS, weather),
        "planes.csv.gz": planes,
        "airports.csv.gz": airports,
        "airlines.csv.gz": airlines,
    }
    for name, text in files.items():
        (raw_dir / name).write_bytes(gzip.compress(text.encode("utf-8")))
    return raw_dir / "flights.csv.gz"


def project_catalog(
    root: Path, env: str = "local", raw_dir: Path | None = None, **params: Any
) -> DataCatalog:
    """The project's catalog and parameters (conf/base and `env`) with its data under root.

    The landing is raw_dir, root/01_raw by default (see `write_landing`); `params` are runtime
    parameters, as `kedro run --params` gives them (they override the conf's values).
    """
    configure_project("ml_lifecycle")
    raw_dir = raw_dir or root / "01_raw"
    runtime = {
        "data_dir": str(root),
        "raw_dir": str(raw_dir),
        "flights_path": str(raw_dir / "flights.csv.gz"),
        **params,
    }
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(ROOT / settings.CONF_SOURCE),
        env=env,
        runtime_params=runtime,
        **settings.CONFIG_LOADER_ARGS,
    )
    context = KedroContext(
        package_name="ml_lifecycle",
        project_path=ROOT,
        config_loader=loader,
        hook_manager=_create_hook_manager(),
        env=env,
        runtime_params=runtime,
    )
    return context.catalog


class Outputs(dict):
    """A run's datasets by name (its outputs and every dataset it wrote), loaded when first read."""

    def __init__(self, catalog: DataCatalog, datasets: dict[str, Any]):
        super().__init__()
        self.catalog = catalog
        self.datasets = datasets

    def __missing__(self, name: str) -> Any:
        # The runner returns only the pipeline's free outputs; what a later node read is loaded
        # from the catalog, where the run saved it.
        source = self.datasets.get(name) or self.catalog.get(name)
        if source is None:
            raise KeyError(name)
        self[name] = source.load()
        return self[name]


def run_stages(catalog: DataCatalog, *pipelines: Pipeline) -> Outputs:
    """Runs the pipelines in order with SequentialRunner; returns their datasets, loaded on read."""
    datasets: dict[str, Any] = {}
    for pipeline in pipelines:
        # SequentialRunner.run returns {free output name: its dataset}: datasets, not data.
        datasets.update(SequentialRunner().run(pipeline, catalog))
    return Outputs(catalog, datasets)


class Lifecycle:
    """The lifecycle's stages run once each, in order, on one landing (a session's folder)."""

    ORDER = ("ingestion", "cleaning", "data_quality", "features", "training", "evaluation")

    def __init__(self, root: Path, **params: Any):
        write_landing(root / "01_raw")
        self.root = root
        self.catalog = project_catalog(root, **params)
        self._outputs: dict[str, Outputs] = {}
        # A tracking store of its own, artifacts beside it: whatever store or experiment another
        # test left active, the stages log here (`self.mlflow` reads it).
        self.tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
        self.mlflow = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        self.experiment_id = self.mlflow.create_experiment(
            "lifecycle", artifact_location=(root / "mlruns").as_uri()
        )

    def run(self, stage: str) -> Outputs:
        """The stage's outputs (loaded), running it, and the stages before it, the first time."""
        if stage not in self._outputs:
            for before in self.ORDER[: self.ORDER.index(stage)]:
                self.run(before)
            # One MLflow run a stage, as kedro-mlflow opens one a `kedro run`; training logs
            # its model there.
            previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
            mlflow.set_tracking_uri(self.tracking_uri)
            mlflow.set_registry_uri(self.tracking_uri)
            try:
                with mlflow.start_run(experiment_id=self.experiment_id, run_name=stage):
                    self._outputs[stage] = run_stages(self.catalog, pipelines[stage])
            finally:
                mlflow.set_tracking_uri(previous[0])
                mlflow.set_registry_uri(previous[1])
        return self._outputs[stage]

    def load(self, name: str) -> Any:
        return self.catalog.load(name)


# The suite's table-level bounds are the full sample's; a landing of 60 flights narrows them as
# conf/test does for its slice (`data_quality_overrides`).
TINY_ROW_COUNT = {"row_count": {"min_value": 40, "max_value": 100}}


@pytest.fixture(scope="session")
def lifecycle(spark, tmp_path_factory) -> Lifecycle:
    """The tiny landing's lifecycle: `lifecycle.run(stage)` runs a stage once per session."""
    return Lifecycle(tmp_path_factory.mktemp("lifecycle"), data_quality_overrides=TINY_ROW_COUNT)


@pytest.fixture(scope="session")
def easy_shards(spark, tmp_path_factory):
    """tests/model_data.py's easy problem as model input shards: (statistics, {split: dataset})."""
    return write_shards(spark, tmp_path_factory.mktemp("shards"))


@pytest.fixture(scope="session")
def easy_trained(easy_shards):
    """(model, history) of train_model on the easy shards with tests/model_data.py's TRAINING."""
    statistics, splits = easy_shards
    return train_model(splits["train"], splits["validation"], statistics, TRAINING)
