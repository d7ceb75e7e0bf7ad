"""Code shared by several stages: errors, Spark column helpers, the quarantine split and row
accounting, drift statistics."""
