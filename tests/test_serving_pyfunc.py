"""The logged model's pyfunc face: raw rows in, with missing values and columns left out."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd

from ml_lifecycle.model.layers import predict_raw
from tests.champion import EXAMPLE, register_champion, tiny_model


def test_the_pyfunc_scores_raw_rows_and_treats_an_absent_column_as_missing(mlflow_store):
    model = tiny_model(seed=3)
    register_champion("pyfunc_test", model)
    pyfunc = mlflow.pyfunc.load_model("models:/pyfunc_test@champion")
    assert pyfunc.loader_module == "ml_lifecycle.model.serving"
    assert mlflow.keras.load_model("models:/pyfunc_test@champion").count_params() == (
        model.count_params()
    )

    expected = predict_raw(model, EXAMPLE)[:, 0]
    assert np.allclose(pyfunc.predict(EXAMPLE).to_numpy(), expected, atol=1e-6)
    dropped = EXAMPLE.columns[0]
    without = pyfunc.predict(EXAMPLE.drop(columns=[dropped]))
    as_missing = predict_raw(model, EXAMPLE.assign(**{dropped: None}))[:, 0]
    assert np.allclose(without.to_numpy(), as_missing, atol=1e-6)
    assert isinstance(without, pd.Series) and without.name == "prediction"
