"""Around the runs: datasets staged until a run succeeded, and the tracking store's lock."""
