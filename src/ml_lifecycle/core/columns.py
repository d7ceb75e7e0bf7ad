"""Column names that several stages share: the label and the quarantine reason."""

# The features stage writes the target as this column; training, evaluation and the gate read it.
LABEL = "label"
# Every row that leaves the main path carries its reason in this column.
REASON = "_reason"
