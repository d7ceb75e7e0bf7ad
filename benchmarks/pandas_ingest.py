"""Contrast: the same ingestion + cleaning core in pandas, on one machine's memory."""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).parents[1]
PANDAS_TYPES = {"int": "Int32", "double": "float64", "string": "string", "timestamp": "string"}


def main(flights_path: str, raw_dir: str, output: str) -> None:
    catalog = yaml.safe_load((ROOT / "conf/base/catalog.yml").read_text())
    ingestion = yaml.safe_load((ROOT / "conf/base/parameters_ingestion.yml").read_text())[
        "ingestion"
    ]
    cleaning = yaml.safe_load((ROOT / "conf/base/parameters_cleaning.yml").read_text())["cleaning"]
    sources = catalog["raw_sources"]["sources"]

    def read(name: str, paths: list[str]) -> pd.DataFrame:
        dtypes = {c: PANDAS_TYPES[t] for c, t in sources[name]["schema"].items()}
        # Malformed lines are skipped (the pandas analogue of DROPMALFORMED); bad numbers -> NaN.
        frames = [
            pd.read_csv(p, dtype="string", on_bad_lines="skip", usecols=list(dtypes)) for p in paths
        ]
        frame = pd.concat(frames, ignore_index=True)
        for col, dtype in dtypes.items():
            if dtype in ("Int32", "float64"):
                frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(dtype)
        return frame

    files = (
        sorted(glob.glob(f"{flights_path}/*.csv"))
        if Path(flights_path).is_dir()
        else [flights_path]
    )
    df = read("flights", files)
    for join in ingestion["joins"]:
        name = join["source"]
        columns = (
            join["columns"]
            if isinstance(join["columns"], dict)
            else {c: c for c in join["columns"]}
        )
        right = read(name, [f"{raw_dir}/{name}.csv.gz"]).drop_duplicates(
            list(join["keys"].values())
        )
        right = right[list(join["keys"].values()) + list(columns)].rename(
            columns={**{r: left for left, r in join["keys"].items()}, **columns}
        )
        df = df.merge(right, on=list(join["keys"]), how="left")
    date = pd.to_datetime(dict(year=df["year"], month=df["month"], day=df["day"]), errors="coerce")
    df["flight_date"] = date
    df["day_of_week"] = date.dt.dayofweek.add(2).mod(7).replace(0, 7)
    df["sched_dep_hour"] = df["sched_dep_time"] // 100
    df["sched_arr_hour"] = df["sched_arr_time"] // 100
    df["route"] = df["origin"] + "-" + df["dest"]

    df = df[df[cleaning["target"]["column"]].notna()]
    df = df.drop_duplicates(cleaning["dedupe"]["keys"])
    values = {}
    for name, spec in cleaning["impute"].items():
        strategy = spec if isinstance(spec, str) else spec["strategy"]
        if strategy == "mean":
            values[name] = df[name].mean()
        elif strategy == "median":
            values[name] = df[name].median()
        elif strategy == "mode":
            values[name] = df[name].mode().iloc[0]
        else:
            values[name] = spec["value"]
    df = df.fillna(values)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(output, index=False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--flights", required=True)
    parser.add_argument("--raw-dir", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    main(args.flights, args.raw_dir, args.output)
