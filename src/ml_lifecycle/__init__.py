"""ml-lifecycle: a declarative Kedro project that takes a tabular model through its whole life."""

__version__ = "0.1.0"

from ml_lifecycle.quiet import quiet_third_parties

# Before anything imports TensorFlow, MLflow or Kedro's pipelines.
quiet_third_parties()
