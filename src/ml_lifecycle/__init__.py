"""ml-lifecycle: a declarative Kedro project that takes a tabular model through its whole life."""

__version__ = "0.1.0"
