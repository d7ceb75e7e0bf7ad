"""The model shared by training, evaluation, the registry gate and serving: its layers, the
Parquet-to-tf.data input, devices, metrics, and the raw-in pyfunc that MLflow serves."""
