"""Data quality: expectation suites declared in YAML, validated by GX Core on Spark DataFrames."""
