"""The features pipeline, run in-process on the validated tiny landing with conf/base's split."""

from __future__ import annotations

from tests.pipelines.conftest import BAD_DEST, HOT


def test_features_split_by_time_and_fit_statistics_on_the_train_split_only(lifecycle):
    out = lifecycle.run("features")
    # Months 1-8 train (40 flights less the 2 data quality set aside), 9-10 validate, 11-12 test.
    report = out["row_accounting_features"]
    assert (report["in"], report["kept"], report["quarantined"]) == (58, 58, 0)
    assert report["kept_by_split"] == {"train": 38, "validation": 10, "test": 10}
    assert lifecycle.load("features_quarantine").count() == 0

    shards = {
        split: out[f"model_input_{split}"].count_rows() for split in ("train", "validation", "test")
    }
    assert shards == {"train": 38, "validation": 10, "test": 10}
    train = out["model_input_train"].to_table().to_pydict()
    assert 100 + HOT not in train["flight"] and 100 + BAD_DEST not in train["flight"]
    assert set(train["label"]) == {0, 1}

    statistics = out["feature_statistics"]
    assert statistics["task"] == "binary" and statistics["fitted_on"] == "train"
    assert statistics["rows_by_split"] == {"train": 38, "validation": 10, "test": 10}
    # Every fifth flight is delayed: 8 of the 38 training flights.
    assert statistics["label"]["rows"] == 38
    assert sorted(statistics["label"]["class_counts"].values()) == [8, 30]
    assert set(statistics["numeric"]) == {
        "distance", "temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip",
        "pressure", "visib", "plane_year", "plane_seats", "dest_lat", "dest_lon",
    }  # fmt: skip
    carrier = statistics["categorical"]["carrier"]
    assert sorted(carrier["vocabulary"]) == ["AA", "B6", "DL", "UA"]
    assert sum(carrier["counts"]) == 38  # counted on the train split, not on all 58 rows
    # Leakage columns never reach the model input.
    assert not {"dep_delay", "arr_delay", "air_time"} & set(train)
    # The drift reference profiles every model feature over all three splits.
    reference = out["reference_profile"]
    assert reference["rows"] == 58
    assert set(reference["columns"]) == set(statistics["numeric"]) | set(statistics["categorical"])
    carriers = reference["columns"]["carrier"]
    assert sum(carriers["counts"].values()) + carriers["other"] + carriers["missing"] == 58
