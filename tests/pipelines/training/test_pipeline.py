"""The training pipeline, run in-process on the tiny landing's shards with conf/base's model."""

from __future__ import annotations


def test_training_fits_conf_base_model_and_logs_it_to_the_stage_run(lifecycle):
    out = lifecycle.run("training")
    summary = out["training_history"]["summary"]
    assert (summary["train_rows"], summary["validation_rows"]) == (38, 10)
    # conf/base: 1,024 rows a batch (one step an epoch here), at most 30 epochs, early stopping
    # on val_auc (monitor auto, a binary task) with a patience of 3, on the CPU's default
    # strategy in float32.
    assert summary["batch_size"] == 1024 and summary["monitor"] == "val_auc"
    assert 1 <= summary["epochs_run"] <= 30
    assert summary["best_epoch"] <= summary["epochs_run"]
    assert summary["devices"]["strategy"] != "MirroredStrategy"
    history = out["training_history"]["history"]
    assert len(history["loss"]) == summary["epochs_run"]
    assert summary["best_value"] == max(history["val_auc"])
    # conf/base's hidden layers are 256, 128 and 64 units wide.
    model = out["model"]
    # conf/base's ensemble of 4 heads, each of hidden_units
    for member in range(4):
        units = [model.get_layer(f"member_{member}_dense_{i}").units for i in range(3)]
        assert units == [256, 128, 64]
    assert not any(layer.name.startswith("member_4_") for layer in model.layers)

    pointer = out["logged_model"]
    run = lifecycle.mlflow.get_run(pointer["run_id"])
    assert run.info.run_name == "training"
    logged = lifecycle.mlflow.get_logged_model(pointer["model_id"])
    assert logged.source_run_id == pointer["run_id"]
    assert (lifecycle.root / "06_models" / "model.keras").is_file()
