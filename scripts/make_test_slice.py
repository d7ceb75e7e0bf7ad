"""Cut the small deterministic slice of nycflights13 that `conf/test` runs on.

Every 100th flight (3,368 flights spread over all twelve months), the weather rows of their
(origin, time_hour) -- duplicates included, as in the full table -- the planes of their tail
numbers, the airports they touch and all airlines. Standard library only; output is reproducible.
Usage: python scripts/make_test_slice.py data/01_raw/nycflights13 data/01_raw/nycflights13_slice
"""

import csv
import gzip
import io
import sys
from pathlib import Path

STRIDE = 100


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(buffer.getvalue().encode("utf-8"))
    print(f"{path.name}: {len(rows):,} rows")


def main(src: str, dst: str) -> None:
    src_dir, dst_dir = Path(src), Path(dst)
    dst_dir.mkdir(parents=True, exist_ok=True)

    header, flights = _read(src_dir / "flights.csv.gz")
    flights = flights[::STRIDE]
    col = {name: i for i, name in enumerate(header)}
    _write(dst_dir / "flights.csv.gz", header, flights)

    hours = {(r[col["origin"]], r[col["time_hour"]]) for r in flights}
    tails = {r[col["tailnum"]] for r in flights}
    codes = {r[col["origin"]] for r in flights} | {r[col["dest"]] for r in flights}

    w_header, weather = _read(src_dir / "weather.csv.gz")
    w = {name: i for i, name in enumerate(w_header)}
    keep = [r for r in weather if (r[w["origin"]], r[w["time_hour"]]) in hours]
    _write(dst_dir / "weather.csv.gz", w_header, keep)

    p_header, planes = _read(src_dir / "planes.csv.gz")
    _write(dst_dir / "planes.csv.gz", p_header, [r for r in planes if r[0] in tails])

    a_header, airports = _read(src_dir / "airports.csv.gz")
    _write(dst_dir / "airports.csv.gz", a_header, [r for r in airports if r[0] in codes])

    l_header, airlines = _read(src_dir / "airlines.csv.gz")
    _write(dst_dir / "airlines.csv.gz", l_header, airlines)


if __name__ == "__main__":
    main(*sys.argv[1:3])
