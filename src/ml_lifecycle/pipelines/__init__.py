"""The stages and tools, one package each: nodes.py (the functions), pipeline.py (the wiring)."""
