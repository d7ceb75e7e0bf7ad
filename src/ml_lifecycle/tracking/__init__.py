"""MLflow around the runs: registry versions and aliases, and the tracking store's lock."""
